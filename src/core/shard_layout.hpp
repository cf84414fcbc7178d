#pragma once
#include <cstdint>
#include <string>

namespace metaguard {

// One rank's part of a sharded tensor: elements [begin, end) of its flattened data. A slice
// that starts at or past the end holds only padding: an empty shard.
struct ShardSlice {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end > begin ? end - begin : 0; }
  bool empty() const { return size() == 0; }
};

// How `--strategy shard` splits a tensor across ranks, as FSDP's flat parameters do: the
// flattened data is padded to a multiple of the world size and cut into equal contiguous
// slices, rank r holding slice r. Every rank allocates per_rank() elements (its slice plus
// any padding), so the all-gathered buffer is padded_numel() long and its first numel()
// elements are the tensor.
class ShardLayout {
 public:
  ShardLayout(int64_t numel, int world_size);

  int64_t numel() const { return numel_; }
  int world_size() const { return world_size_; }
  int64_t per_rank() const { return per_rank_; }
  int64_t padded_numel() const { return per_rank_ * world_size_; }
  ShardSlice slice(int rank) const;
  // Ranks whose slice is empty (numel smaller than the slices before them cover).
  int empty_ranks() const;

 private:
  int64_t numel_;
  int world_size_;
  int64_t per_rank_;
};

// The unit a sharded run gathers at once: a transformer block ("transformer.h.12" for
// every tensor under it), or a tensor outside the blocks on its own (the embedding, the
// final norm, the head). Preflight's memory figures and the trainer's gathers use it.
std::string gather_unit(const std::string& name);

// `--strategy`: true for shard, false for replicate; throws InputError for anything else.
bool parse_shard_strategy(const std::string& value);

}  // namespace metaguard
