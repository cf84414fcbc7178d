#pragma once
#include <map>
#include <string>
#include <string_view>

#include "core/report.hpp"

namespace metaguard {

// What a tensor looks like to a person reading a report, one colour each in the HTML
// module tree. "flagged" extends the five states of the issue: a materialized tensor with
// an open error or warning (stale buffer, broken tie, divergent replica) must not show as
// healthy.
enum class TensorState { Materialized, Meta, Uninitialized, Flagged, Repaired, Allowed };

std::string_view to_string(TensorState state);
// How much a reader should look at it: higher is worse (a module shows its worst tensor).
int severity_rank(TensorState state);

// The state of every tensor named in the report (its tensors and its findings' tensors).
// Precedence, first match wins: allowed (an --allow glob matched one of its findings),
// meta (device "meta"), uninitialized, flagged (an unrepaired error or warning finding),
// repaired (a finding on it was repaired), materialized.
std::map<std::string, TensorState> tensor_states(const Report& report);

}  // namespace metaguard
