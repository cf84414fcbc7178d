#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/severity.hpp"

namespace metaguard {

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
  bool repaired = false;
  bool allowed = false;  // matched an --allow glob, so downgraded to info

  bool operator==(const Finding& other) const;
};

// Deterministic order: tensor, code, rank, phase.
bool finding_less(const Finding& a, const Finding& b);
void sort_findings(std::vector<Finding>& findings);

// Turns findings whose tensor matches one of the globs into counted info findings.
void apply_allow_globs(std::vector<Finding>& findings, const std::vector<std::string>& globs);
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace metaguard
