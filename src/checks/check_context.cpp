#include "checks/check.hpp"

namespace metaguard {

std::string CheckContext::cause(const TensorRecord& tensor) const {
  if (ledger) return ledger->cause(tensor);
  return "no provenance recorded";
}

std::string CheckContext::where() const { return where_text(rank, phase); }

Finding CheckContext::make(std::string code, Severity severity, const TensorRecord* tensor,
                           std::string message, std::string hint) const {
  std::optional<std::string> name;
  if (tensor) name = tensor->name;
  return FindingPlace{rank, phase}.make(std::move(code), severity, std::move(name), std::move(message), std::move(hint));
}

}  // namespace metaguard
