#include "core/shard_layout.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {

ShardLayout::ShardLayout(int64_t numel, int world_size) : numel_(numel), world_size_(world_size) {
  if (numel < 0 || world_size < 1) throw std::invalid_argument("ShardLayout: numel >= 0 and world_size >= 1");
  per_rank_ = (numel + world_size - 1) / world_size;  // ceil: the last slices carry the padding
}

ShardSlice ShardLayout::slice(int rank) const {
  if (rank < 0 || rank >= world_size_) throw std::out_of_range("ShardLayout::slice: rank outside the world");
  const int64_t begin = std::min(numel_, per_rank_ * rank);
  const int64_t end = std::min(numel_, begin + per_rank_);
  return {begin, end};
}

int ShardLayout::empty_ranks() const {
  int count = 0;
  for (int r = 0; r < world_size_; ++r) count += slice(r).empty() ? 1 : 0;
  return count;
}

std::string gather_unit(const std::string& name) {
  static const std::string kBlocks = "transformer.h.";
  if (name.compare(0, kBlocks.size(), kBlocks) != 0) return name;
  const size_t end = name.find('.', kBlocks.size());
  return end == std::string::npos ? name : name.substr(0, end);
}

bool parse_shard_strategy(const std::string& value) {
  if (value != "replicate" && value != "shard") {
    throw InputError(fmt::format("--strategy '{}': expected replicate or shard", value));
  }
  return value == "shard";
}

}  // namespace metaguard
