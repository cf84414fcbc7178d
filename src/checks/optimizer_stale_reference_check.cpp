#include "checks/optimizer_stale_reference_check.hpp"

#include <unordered_map>

#include <fmt/format.h>

namespace metaguard {

void OptimizerStaleReferenceCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  if (!context.optimizer) return;
  std::unordered_map<uint64_t, const TensorRecord*> by_key;
  for (const auto& tensor : context.inventory.tensors()) {
    if (tensor.tensor_key != 0) by_key.emplace(tensor.tensor_key, &tensor);
  }
  for (const auto& entry : *context.optimizer) {
    auto it = by_key.find(entry.tensor_key);
    if (it == by_key.end()) {
      const TensorRecord* expected =
          entry.expected_name.empty() ? nullptr : context.inventory.find(entry.expected_name);
      std::string subject = expected ? expected->name : entry.label;
      Finding finding = context.make(
          std::string(code()), Severity::Error, expected,
          fmt::format("the optimizer's {} is not a tensor of the model any more{}{}: it steps a "
                      "stale copy while the model trains nothing there.",
                      entry.label, expected ? fmt::format(" (it was built for {})", expected->name) : "",
                      context.where()),
          "materialize in place (metaguard keeps tensor identity) or create the optimizer after "
          "materialization");
      if (!expected) finding.tensor = subject;
      if (expected) finding.message += " " + context.cause(*expected) + ".";
      out.push_back(std::move(finding));
    } else if (it->second->is_meta() || entry.device == "meta") {
      out.push_back(context.make(
          std::string(code()), Severity::Error, it->second,
          fmt::format("the optimizer holds {} while it is still on meta{}: stepping it will fail.",
                      it->second->name, context.where()),
          "materialize the model before the first optimizer step"));
    }
  }
}

}  // namespace metaguard
