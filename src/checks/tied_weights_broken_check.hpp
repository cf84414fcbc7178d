#pragma once
#include "checks/check.hpp"

namespace metaguard {

// Tensors that shared one storage when the ledger first saw them (tied embedding and
// LM head) and no longer do: materializing each name separately unties them.
class TiedWeightsBrokenCheck final : public Check {
 public:
  std::string_view code() const override { return "tied-weights-broken"; }
  RepairKind repair() const override { return RepairKind::Retie; }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
