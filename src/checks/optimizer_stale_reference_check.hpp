#pragma once
#include "checks/check.hpp"

namespace metaguard {

// The optimizer steps tensors the model no longer uses (materialization replaced them
// instead of filling them in place), or tensors that are still meta.
class OptimizerStaleReferenceCheck final : public Check {
 public:
  std::string_view code() const override { return "optimizer-stale-reference"; }
  std::string_view no_repair_reason() const override { return "rebuild the optimizer after materialization"; }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
