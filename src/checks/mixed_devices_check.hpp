#pragma once
#include "checks/check.hpp"

namespace metaguard {

// Tensors that must be together are apart: one module's tensors on several devices, or
// tensors not on the device the model is about to run on. Meta is left to the meta checks.
class MixedDevicesCheck final : public Check {
 public:
  std::string_view code() const override { return "mixed-devices"; }
  std::string_view no_repair_reason() const override {
    return "moving tensors is the caller's decision: move the whole model to one device";
  }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
