#include "checks/lora_trainability_check.hpp"

#include <fmt/format.h>

namespace metaguard {

void LoraTrainabilityCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  if (!context.lora_run) return;
  for (const auto& tensor : context.inventory.tensors()) {
    if (tensor.kind != TensorKind::Parameter || !tensor.requires_grad) continue;
    bool is_lora = tensor.name.find("lora_") != std::string::npos;
    if (is_lora && !*tensor.requires_grad) {
      out.push_back(context.make(std::string(code()), Severity::Warning, &tensor,
                                 fmt::format("LoRA parameter {} is frozen{}: it will never learn.",
                                             tensor.name, context.where()),
                                 "mark LoRA parameters trainable (mark_only_lora_trainable)"));
    } else if (!is_lora && *tensor.requires_grad) {
      out.push_back(context.make(std::string(code()), Severity::Warning, &tensor,
                                 fmt::format("base parameter {} is trainable in a LoRA run{}: it costs "
                                             "gradient and optimizer memory and changes the base model.",
                                             tensor.name, context.where()),
                                 "freeze base weights (mark_only_lora_trainable)"));
    }
  }
}

}  // namespace metaguard
