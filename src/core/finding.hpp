#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/severity.hpp"

namespace metaguard {

// How a finding is repaired in place: the check that makes it says, repair/repairer does it,
// and the guard looks again to see whether it worked.
enum class RepairKind {
  None,         // no automatic repair: the check says why (Check::no_repair_reason)
  Materialize,  // allocate and fill from its init recipe (meta tensors, missing checkpoint keys)
  Refill,       // write again from its source (uninitialized storage, stale derived buffers)
  Retie,        // share storage with its tie partner again
  Rebroadcast,  // receive rank 0's values again (multi-rank runs)
};

// One problem a check found, as plain data (clang-tidy's diagnostic shape): checks
// produce these, renderers format them, nothing else interprets them.
struct Finding {
  std::string code;  // CONTRACT.md's catalog, e.g. "meta-nonpersistent-buffer"
  Severity severity = Severity::Error;
  std::optional<std::string> tensor;
  std::optional<int> rank;
  std::optional<std::string> phase;
  std::string message;  // one sentence a person can act on
  std::string hint;     // what to do about it
  RepairKind repair = RepairKind::None;  // not serialized: a repair happens where it was found
  bool repaired = false;
  bool allowed = false;  // matched an --allow glob, so downgraded to info

  bool operator==(const Finding& other) const;
  // An error nobody repaired or allowed: what stops a run and fails a JUnit case.
  bool is_open_error() const { return severity == Severity::Error && !repaired && !allowed; }
};

// Where a finding was made, as its message says it: " on rank 1 at before-validation" (either
// part left out when unknown).
std::string where_text(const std::optional<int>& rank, const std::string& phase);

// A finding with its place filled in: what checks and the loader build every finding with.
struct FindingPlace {
  std::optional<int> rank;
  std::string phase;  // empty: none
  Finding make(std::string code, Severity severity, std::optional<std::string> tensor, std::string message,
               std::string hint) const;
  std::string where() const { return where_text(rank, phase); }
};

// Deterministic order: tensor, code, rank, phase.
bool finding_less(const Finding& a, const Finding& b);
void sort_findings(std::vector<Finding>& findings);

// Turns findings whose tensor matches one of the globs into counted info findings.
void apply_allow_globs(std::vector<Finding>& findings, const std::vector<std::string>& globs);
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace metaguard
