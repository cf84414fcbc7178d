#pragma once
#include "checks/check.hpp"

namespace metaguard {

// A derived buffer (LoRA index, rotary cache, mask) that differs from what its recipe
// computes now. The walker recomputes and compares when asked (derived_current).
class StaleDerivedBufferCheck final : public Check {
 public:
  std::string_view code() const override { return "stale-derived-buffer"; }
  RepairKind repair() const override { return RepairKind::Refill; }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
