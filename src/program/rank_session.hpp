#pragma once
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "guard/guard.hpp"
#include "load/checkpoint_loader.hpp"
#include "model/gpt.hpp"
#include "program/sharded_tensors.hpp"

namespace metaguard {

// One rank's model and everything metaguard keeps about it: the state tracker, the ledger,
// the walker and the guard. Preflight holds one per rank in one process; the trainer holds
// its own rank's.
class RankSession {
 public:
  RankSession(int rank, GPT model, bool dry_run, GuardConfig config);
  RankSession(const RankSession&) = delete;
  RankSession& operator=(const RankSession&) = delete;

  int rank() const { return rank_; }
  GPT& model() { return model_; }
  TensorStateTracker& tracker() { return tracker_; }
  Ledger& ledger() { return ledger_; }
  ModuleWalker& walker() { return walker_; }
  Guard& guard() { return guard_; }
  // Under --strategy shard: the frozen weights' layout on this rank (null when replicated).
  ShardedTensors* shards() { return shards_.get(); }
  // Splits the frozen weights of the model as built (on meta) across `world_size` ranks.
  ShardedTensors& start_sharding(int world_size);
  // Under --strategy shard: a finding about a sharded weight says which slice this rank holds.
  void describe_slices(std::vector<Finding>& findings) const;

  // Keeps the first report of each (code, tensor): a tensor stuck on meta is reported at the
  // first phase where it matters, not at every later one.
  void keep(const std::vector<Finding>& findings);
  const std::vector<Finding>& findings() const { return findings_; }

  // The load step's result; its findings wait for the phase's check (keep_step_findings).
  void finish_load(LoadResult loaded);
  const LoadResult& loaded() const { return loaded_; }
  // After the phase's check: the step's findings are kept. When the check passed under
  // `repair`, a missing-key finding counts as repaired once the guard filled its tensor from
  // its init recipe (shape and dtype mismatches stay: the file still disagrees).
  void keep_step_findings(bool check_passed);

 private:
  int rank_;
  GPT model_;
  TensorStateTracker tracker_;
  Ledger ledger_;
  ModuleWalker walker_;
  Guard guard_;
  std::unique_ptr<ShardedTensors> shards_;
  std::vector<Finding> findings_;
  LoadResult loaded_;
  std::vector<Finding> step_findings_;
  std::set<std::tuple<std::string, std::string>> seen_;
};

}  // namespace metaguard
