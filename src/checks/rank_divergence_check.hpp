#pragma once
#include "checks/check.hpp"

namespace metaguard {

// A replicated tensor that differs between this rank and rank 0 (the source of truth of
// a broadcast): in state (meta or not), shape, dtype, or content hash when both are known.
class RankDivergenceCheck final : public Check {
 public:
  std::string_view code() const override { return "rank-divergence"; }
  RepairKind repair() const override { return RepairKind::Rebroadcast; }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;
};

}  // namespace metaguard
