#include "core/finding.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace metaguard {

bool Finding::operator==(const Finding& other) const {
  return code == other.code && severity == other.severity && tensor == other.tensor &&
         rank == other.rank && phase == other.phase && message == other.message &&
         hint == other.hint && repaired == other.repaired && allowed == other.allowed;
}

bool finding_less(const Finding& a, const Finding& b) {
  return std::tie(a.tensor, a.code, a.rank, a.phase, a.message) <
         std::tie(b.tensor, b.code, b.rank, b.phase, b.message);
}

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), finding_less);
}

bool glob_match(const std::string& pattern, const std::string& text) {
  // '*' crosses '.' on purpose: "transformer.h.*.lora_ind" should match every layer.
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

void apply_allow_globs(std::vector<Finding>& findings, const std::vector<std::string>& globs) {
  for (auto& finding : findings) {
    if (!finding.tensor || finding.severity == Severity::Info) continue;
    for (const auto& glob : globs) {
      if (glob_match(glob, *finding.tensor)) {
        finding.severity = Severity::Info;
        finding.allowed = true;
        finding.message += " (allowed by --allow " + glob + ")";
        break;
      }
    }
  }
}

std::string where_text(const std::optional<int>& rank, const std::string& phase) {
  std::string text;
  if (rank) text += fmt::format(" on rank {}", *rank);
  if (!phase.empty()) text += fmt::format(" at {}", phase);
  return text;
}

Finding FindingPlace::make(std::string code, Severity severity, std::optional<std::string> tensor,
                           std::string message, std::string hint) const {
  Finding finding;
  finding.code = std::move(code);
  finding.severity = severity;
  finding.tensor = std::move(tensor);
  finding.rank = rank;
  if (!phase.empty()) finding.phase = phase;
  finding.message = std::move(message);
  finding.hint = std::move(hint);
  return finding;
}

}  // namespace metaguard
