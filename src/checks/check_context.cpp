#include <fmt/format.h>

#include "checks/check.hpp"

namespace metaguard {

std::string CheckContext::cause(const TensorRecord& tensor) const {
  if (ledger) return ledger->cause(tensor);
  return "no provenance recorded";
}

std::string CheckContext::where() const {
  std::string text;
  if (rank) text += fmt::format(" on rank {}", *rank);
  if (!phase.empty()) text += fmt::format(" at {}", phase);
  return text;
}

Finding CheckContext::make(std::string code, Severity severity, const TensorRecord* tensor,
                           std::string message, std::string hint) const {
  Finding finding;
  finding.code = std::move(code);
  finding.severity = severity;
  if (tensor) finding.tensor = tensor->name;
  finding.rank = rank;
  if (!phase.empty()) finding.phase = phase;
  finding.message = std::move(message);
  finding.hint = std::move(hint);
  return finding;
}

}  // namespace metaguard
