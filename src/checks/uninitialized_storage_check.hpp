#pragma once
#include "checks/check.hpp"

namespace metaguard {

// The silent case: materialization handed out storage (to_empty) and nothing wrote it
// since. Nothing is meta any more, yet the values are whatever memory held.
class UninitializedStorageCheck final : public Check {
 public:
  std::string_view code() const override { return "uninitialized-storage"; }
  RepairKind repair() const override { return RepairKind::Refill; }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
