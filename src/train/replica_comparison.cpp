#include "train/replica_comparison.hpp"

#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/hashing.hpp"

namespace metaguard {
namespace {

enum : int64_t { kMeta = 0, kUninitialized = 1, kData = 2 };

int64_t state_of(const TensorRecord& record) {
  if (record.is_meta()) return kMeta;
  if (record.uninitialized) return kUninitialized;
  return kData;
}

int64_t as_signed(uint64_t value) {
  int64_t out;
  std::memcpy(&out, &value, sizeof(out));
  return out;
}

uint64_t as_unsigned(int64_t value) {
  uint64_t out;
  std::memcpy(&out, &value, sizeof(out));
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<const Inventory*> ReplicaComparison::pointers() const {
  std::vector<const Inventory*> out;
  for (const auto& inventory : inventories) out.push_back(&inventory);
  return out;
}

ReplicaComparison compare_replicas(ModuleWalker& walker, Communicator& communicator, int threads, Inventory* own,
                                   const ShardedTensors* shards) {
  ReplicaComparison result;
  auto start = std::chrono::steady_clock::now();
  SnapshotOptions options;
  options.hash_contents = true;
  options.threads = threads;
  Inventory mine = walker.snapshot(options);
  result.hash_seconds = seconds_since(start);

  std::vector<size_t> replicated;  // indices into mine
  uint64_t names_hash = fnv1a64("replicated");
  for (size_t i = 0; i < mine.tensors().size(); ++i) {
    if (!is_persistent(mine.tensors()[i].kind)) continue;
    if (shards && shards->contains(mine.tensors()[i].name)) continue;  // a slice per rank: nothing to compare
    replicated.push_back(i);
    names_hash = fnv1a64(mine.tensors()[i].name, names_hash);
  }
  // [count, names hash, then (state, hash) per replicated tensor]
  const int64_t n = static_cast<int64_t>(replicated.size());
  torch::Tensor vector = torch::zeros({2 + 2 * n}, torch::kInt64);
  auto v = vector.accessor<int64_t, 1>();
  v[0] = n;
  v[1] = as_signed(names_hash);
  for (int64_t k = 0; k < n; ++k) {
    const TensorRecord& record = mine.tensors()[replicated[k]];
    v[2 + 2 * k] = state_of(record);
    v[3 + 2 * k] = record.content_hash ? as_signed(*record.content_hash) : 0;
  }
  start = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> all = communicator.all_gather(vector, "compare content hashes across ranks");
  result.exchange_seconds = seconds_since(start);

  for (size_t r = 0; r < all.size(); ++r) {
    auto theirs = all[r].accessor<int64_t, 1>();
    if (theirs[0] != n || theirs[1] != v[1]) {
      throw std::runtime_error(fmt::format("rank {} replicates other tensors than rank {} (the ranks did not build the "
                                           "same model); cannot compare their contents",
                                           r, communicator.rank()));
    }
    Inventory copy = mine;
    auto& records = copy.mutable_tensors();
    for (int64_t k = 0; k < n; ++k) {
      TensorRecord& record = records[replicated[k]];
      const int64_t state = theirs[2 + 2 * k];
      record.uninitialized = state == kUninitialized;
      if (state == kMeta) record.device = "meta";
      else if (record.device == "meta") record.device = communicator.device().str();
      record.content_hash = state == kData ? std::optional<uint64_t>(as_unsigned(theirs[3 + 2 * k])) : std::nullopt;
    }
    result.inventories.push_back(std::move(copy));
  }
  auto reference = all[0].accessor<int64_t, 1>();
  for (int64_t k = 0; k < n; ++k) {
    if (reference[2 + 2 * k] != kData) continue;
    for (size_t r = 1; r < all.size(); ++r) {
      auto theirs = all[r].accessor<int64_t, 1>();
      if (theirs[2 + 2 * k] != kData || theirs[3 + 2 * k] != reference[3 + 2 * k]) {
        result.divergent.push_back(mine.tensors()[replicated[k]].name);
        break;
      }
    }
  }
  if (own) *own = std::move(mine);
  return result;
}

}  // namespace metaguard
