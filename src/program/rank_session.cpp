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

ShardedTensors& RankSession::start_sharding(int world_size) {
  if (!shards_) shards_ = std::make_unique<ShardedTensors>(walker_, rank_, world_size);
  return *shards_;
}

void RankSession::describe_slices(std::vector<Finding>& findings) const {
  if (!shards_) return;
  for (auto& finding : findings) {
    const ShardedTensor* tensor = finding.tensor ? shards_->find(*finding.tensor) : nullptr;
    if (!tensor) continue;
    const std::string text = tensor->slice_text(rank_);
    if (finding.message.find(text) == std::string::npos) finding.message += text;
  }
}

void RankSession::keep(const std::vector<Finding>& findings) {
  for (const auto& finding : findings) {
    if (seen_.emplace(finding.code, finding.tensor.value_or("")).second) findings_.push_back(finding);
  }
}

void RankSession::finish_load(LoadResult loaded) {
  step_findings_ = loaded.findings;
  loaded_ = std::move(loaded);
}

void RankSession::keep_step_findings(bool check_passed) {
  if (step_findings_.empty()) return;
  if (check_passed && guard_.config().policy == GuardPolicy::Repair) {
    Inventory now = walker_.snapshot();
    for (auto& finding : step_findings_) {
      // What the guard could fill from a recipe (missing-key), once it holds data.
      if (finding.repair != RepairKind::Materialize || !finding.tensor) continue;
      const TensorRecord* record = now.find(*finding.tensor);
      if (record && record->has_data()) finding.repaired = true;
    }
  }
  keep(step_findings_);
  step_findings_.clear();
}

}  // namespace metaguard
