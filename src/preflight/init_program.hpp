#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/fault.hpp"
#include "preflight/rank_session.hpp"

namespace metaguard {

// How a run brings its model from construction to the first forward, as multi-device
// fine-tuning does it: every rank builds on meta; rank 0 initializes (or loads); the others
// receive rank 0's parameters and persistent buffers; every rank recomputes its derived
// buffers. Preflight runs these steps for every rank in one process (dry run); the trainer
// runs them for its own rank with real tensors and real collectives. Injected faults
// change the steps exactly where the real bugs did.
struct InitPlan {
  int world_size = 1;
  bool meta_init = true;  // false: build directly (world size 1 only)
  uint64_t seed = 0;
  std::set<Fault> faults;
  torch::Device device = torch::kCPU;
  int threads = 1;
  // Tensors kept on meta on purpose (offloaded, loaded later): never materialized.
  std::vector<std::string> offload;

  bool has(Fault fault) const { return faults.count(fault) > 0; }
  bool offloaded(const std::string& name) const;
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
// values on the ranks that initialize (rank 0, or every rank under some faults).
void run_init_step(RankSession& session, const InitPlan& plan);

// Phase "broadcast": ranks other than 0 receive every parameter and persistent buffer.
void run_broadcast_step(RankSession& session, const InitPlan& plan, Replicator& replicator);

// Phase "materialize": every rank recomputes its derived buffers.
void run_materialize_step(RankSession& session, const InitPlan& plan);

// The names of a session's parameters and persistent buffers (what a broadcast sends).
std::vector<std::string> replicated_names(RankSession& session);

// Throws InputError when a fault cannot apply to this plan and model (naming the flag).
void check_plan(const InitPlan& plan, const GPTConfig& config, const std::optional<LoRAConfig>& lora);

}  // namespace metaguard
