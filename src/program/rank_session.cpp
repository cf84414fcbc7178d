#include "program/rank_session.hpp"

namespace metaguard {

RankSession::RankSession(int rank, GPT model, bool dry_run, GuardConfig config)
    : rank_(rank),
      model_(std::move(model)),
      tracker_(dry_run),
      walker_(*model_, &tracker_),
      guard_(walker_, tracker_, ledger_, [&config, rank] {
        config.rank = rank;
        return config;
      }()) {}

void RankSession::keep(const std::vector<Finding>& findings) {
  for (const auto& finding : findings) {
    if (seen_.emplace(finding.code, finding.tensor.value_or("")).second) findings_.push_back(finding);
  }
}

}  // namespace metaguard
