#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace metaguard {

// Why a finding code happens and what fixes it, in plain words, for `metaguard explain`.
// One entry per code of CONTRACT.md's catalog.
struct Cause {
  std::string_view code;
  std::string_view cause;  // the root cause: what went wrong, not what was observed
  std::string_view fix;    // what to change
};

const std::vector<Cause>& cause_catalog();
// The entry for `code`; for a code this build does not know, a cause that says so and an
// empty fix (the finding's own hint still applies).
Cause cause_for(std::string_view code);

}  // namespace metaguard
