#pragma once
#include "checks/check.hpp"

namespace metaguard {

// In a LoRA run only LoRA tensors train: a trainable base weight costs gradient and
// optimizer memory and changes the base model; a frozen LoRA tensor learns nothing.
class LoraTrainabilityCheck final : public Check {
 public:
  std::string_view code() const override { return "lora-trainability"; }
  std::string_view no_repair_reason() const override {
    return "trainability is a choice: call mark_only_lora_trainable()";
  }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
