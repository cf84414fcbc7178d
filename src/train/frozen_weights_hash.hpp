#pragma once
#include <cstdint>
#include <optional>

#include "program/rank_session.hpp"
#include "train/communicator.hpp"

namespace metaguard {

// One hash of a run's frozen weights that does not depend on the strategy: for each frozen
// weight (in name order) the element_hash of the whole tensor (core/hashing.hpp), then one
// hash of that list. Under replicate rank 0 hashes its whole copies; under shard every rank
// hashes only its slices and the slices' hashes add up to the whole tensor's, so a sharded
// run and a replicated run of the same seed and checkpoint report the same value, and a
// rank whose slice differs changes it. Collective (one all-gather of two numbers per weight).
// nullopt when some weight holds no data on the rank that should hash it.
std::optional<uint64_t> frozen_weights_hash(RankSession& session, Communicator& communicator);

}  // namespace metaguard
