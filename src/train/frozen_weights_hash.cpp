#include "train/frozen_weights_hash.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/hashing.hpp"
#include "walk/tie_groups.hpp"

namespace metaguard {
namespace {

// What this rank hashes of one weight: all of it (replicate, rank 0), its slice (shard), or
// nothing (replicate, other ranks).
struct WeightPart {
  std::string name;
  torch::Tensor values;
  int64_t begin = 0;
  bool hashed_here = false;
};

std::vector<WeightPart> parts_of(RankSession& session) {
  std::vector<WeightPart> parts;
  if (const ShardedTensors* shards = session.shards()) {
    for (const auto& tensor : shards->tensors()) parts.push_back({tensor.name(), tensor.handle, tensor.slice.begin, true});
  } else {
    session.walker().refresh();
    std::vector<LiveTensor*> frozen;
    for (auto& live : session.walker().tensors()) {
      if (live.kind == TensorKind::Parameter && live.tensor.defined() && !live.tensor.requires_grad()) frozen.push_back(&live);
    }
    for (const auto& group : tie_groups(frozen)) {
      parts.push_back({group.front()->name, group.front()->tensor, 0, session.rank() == 0});
    }
  }
  std::sort(parts.begin(), parts.end(), [](const WeightPart& a, const WeightPart& b) { return a.name < b.name; });
  return parts;
}

constexpr int64_t kNothing = 0, kHashed = 1, kNoData = 2;

}  // namespace

std::optional<uint64_t> frozen_weights_hash(RankSession& session, Communicator& communicator) {
  torch::NoGradGuard no_grad;
  const std::vector<WeightPart> parts = parts_of(session);
  const int64_t n = static_cast<int64_t>(parts.size());
  torch::Tensor mine = torch::zeros({2 * n}, torch::kInt64);
  auto out = mine.accessor<int64_t, 1>();
  for (int64_t k = 0; k < n; ++k) {
    const WeightPart& part = parts[k];
    if (!part.hashed_here) continue;
    if (part.values.is_meta()) {
      out[2 * k] = kNoData;
      continue;
    }
    const torch::Tensor values = part.values.detach().contiguous().cpu();
    const uint64_t hash = element_hash(values.data_ptr(), values.numel(), static_cast<int>(values.element_size()));
    out[2 * k] = kHashed;
    out[2 * k + 1] = static_cast<int64_t>(shift_element_hash(hash, part.begin));
  }
  const std::vector<torch::Tensor> all = communicator.all_gather(mine, "combine the frozen weights' hashes");
  uint64_t total = fnv1a64("frozen-weights");
  for (int64_t k = 0; k < n; ++k) {
    uint64_t whole = 0;
    for (const auto& theirs : all) {
      auto values = theirs.accessor<int64_t, 1>();
      if (values[2 * k] == kNoData) return std::nullopt;
      if (values[2 * k] == kHashed) whole += static_cast<uint64_t>(values[2 * k + 1]);
    }
    total = mix64(total ^ fnv1a64(parts[k].name) ^ mix64(whole));
  }
  return total;
}

}  // namespace metaguard
