#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/fault.hpp"
#include "load/checkpoint_loader.hpp"
#include "program/rank_session.hpp"

namespace metaguard {

// How a run brings its model from construction to the first forward, as multi-device
// fine-tuning does it: every rank builds on meta; rank 0 initializes (or loads); the others
// receive rank 0's parameters and persistent buffers; every rank recomputes its derived
// buffers. Preflight runs these steps for every rank in one process (dry run); the trainer
// runs them for its own rank with real tensors and real collectives. Injected faults
// change the steps exactly where the real bugs did.
// Preflight simulates every rank in one process: a bound that keeps memory sane (a
// llama-2-70b rank costs a few MB of metadata).
inline constexpr int kMaxSimulatedRanks = 1024;

struct InitPlan {
  int world_size = 1;
  bool meta_init = true;  // false: build directly (world size 1 only)
  uint64_t seed = 0;
  std::set<Fault> faults;
  torch::Device device = torch::kCPU;
  int threads = 1;
  // Tensors kept on meta on purpose (offloaded, loaded later): never materialized.
  std::vector<std::string> offload;
  // The checkpoint rank 0 loads at "load" (the caller keeps it open); none: init only.
  const CheckpointFile* checkpoint = nullptr;
  // `--strategy shard`: every frozen weight is split across the ranks (program/sharded_init.hpp).
  bool shard = false;
  // The collective that checks the CRC-32s of the records the ranks read in slices
  // (program/slice_reader.hpp): the trainer's; none in a process that simulates the ranks.
  SliceGatherer* slice_collective = nullptr;
  // `train --resume`: rank 0 (under shard every rank, its slices) reads the run's own
  // checkpoint at "load", after plan.checkpoint.
  std::function<void(RankSession&)> resume;

  bool has(Fault fault) const { return faults.count(fault) > 0; }
  bool offloaded(const std::string& name) const;
  // Does `rank` read the checkpoint at "load"? Rank 0; every rank when each rank does its
  // own initialization (rank-seed-divergence); none under to-empty-no-init or without one.
  bool loads_on(int rank) const;
  // Must `rank` hold its parameters and persistent buffers once "load" is done?
  bool holds_data_after_load(int rank) const;
  // Does any rank other than 0 receive rank 0's tensors?
  bool broadcasts() const;
};

// Where a rank's replicated tensors come from: rank 0, by broadcast.
class Replicator {
 public:
  virtual ~Replicator() = default;
  // Makes the named tensors of `target` (allocating them if meta) hold rank 0's values;
  // returns the names it replicated (a tensor still meta on rank 0 cannot be sent).
  virtual std::vector<std::string> replicate(RankSession& target, const std::vector<std::string>& names) = 0;
};

// Phase "init": construction is done by the caller; this gives the tensors their first
// values on the ranks that initialize (rank 0, or every rank under some faults). With a
// checkpoint and a meta build, rank 0 initializes only what the checkpoint does not
// provide and the run would otherwise never fill: the LoRA adapters of a LoRA model loaded
// from a base checkpoint (LitGPT's flow); everything else is expected from the file.
void run_init_step(RankSession& session, const InitPlan& plan);

// Phase "load": rank 0 reads plan.checkpoint into its model, in place (the other ranks
// receive it at "broadcast"; see InitPlan::loads_on); a LoRA model maps base keys
// (x.linear.weight is looked up as x.weight).
// Under partial-checkpoint, every key of the last transformer block is treated as absent,
// so those tensors stay meta (missing-key here, meta-parameter at the next guard point).
// Ranks that do not load get an empty result.
LoadResult run_load_step(RankSession& session, const InitPlan& plan);
// Phase "broadcast": rank 0 sends every parameter and persistent buffer, the others receive
// them (every rank calls it: on the trainer it is a collective).
void run_broadcast_step(RankSession& session, const InitPlan& plan, Replicator& replicator);

// Phase "materialize": every rank recomputes its derived buffers.
void run_materialize_step(RankSession& session, const InitPlan& plan);
// optimizer-before-replace, after materialize: each trainable parameter is replaced in its
// module's registry by a new tensor (what load_state_dict(assign=True) or a to_empty that
// re-creates parameters does), so an optimizer built earlier steps tensors the model no
// longer has.
void replace_trainable_parameters(RankSession& session);

// The names of a session's parameters and persistent buffers (what a broadcast sends).
std::vector<std::string> replicated_names(RankSession& session);

// Throws InputError when a fault cannot apply to this plan and model (naming the flag).
void check_plan(const InitPlan& plan, const GPTConfig& config, const std::optional<LoRAConfig>& lora);

}  // namespace metaguard
