#pragma once
#include <string>
#include <vector>

#include "core/inventory.hpp"
#include "program/sharded_tensors.hpp"
#include "train/communicator.hpp"
#include "walk/module_walker.hpp"

namespace metaguard {

// What every rank holds of the replicated tensors (parameters and persistent buffers),
// learned with one all-gather of a fixed-size vector: per tensor its state (meta,
// uninitialized, data) and content hash. Hashes are computed in parallel; no tensor data
// crosses the wire.
struct ReplicaComparison {
  // By rank: this rank's own inventory with each replicated tensor's device, state and hash
  // replaced by that rank's (the shape of GuardExtras::ranks, for RankDivergenceCheck).
  std::vector<Inventory> inventories;
  // Replicated names where some rank differs from rank 0 (state or hash) while rank 0 holds
  // data: what a re-broadcast would fix. The same list, in the same order, on every rank.
  std::vector<std::string> divergent;
  // Time spent hashing and in the collective, seconds.
  double hash_seconds = 0;
  double exchange_seconds = 0;

  std::vector<const Inventory*> pointers() const;
};

// Collective: every rank must call it at the same point. `own` is filled with this rank's
// snapshot (hashes included) when given. Under --strategy shard the frozen weights are not
// replicas (each rank holds its own slice) and are left out.
ReplicaComparison compare_replicas(ModuleWalker& walker, Communicator& communicator, int threads,
                                   Inventory* own = nullptr, const ShardedTensors* shards = nullptr);

}  // namespace metaguard
