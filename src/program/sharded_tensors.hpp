#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "core/report.hpp"
#include "core/shard_layout.hpp"
#include "walk/module_walker.hpp"

namespace metaguard {

// Gathers one equal-sized piece from every rank: outputs[r] receives rank r's `local`.
// The trainer's is the communicator's all-gather (Gloo or NCCL); a single rank copies.
class SliceGatherer {
 public:
  virtual ~SliceGatherer() = default;
  virtual void all_gather(const torch::Tensor& local, std::vector<torch::Tensor>& outputs, const std::string& what) = 0;
};

// One frozen weight under `--strategy shard` (all the names it is registered under: a tied
// head and embedding are one tensor, sharded once).
struct ShardedTensor {
  std::vector<std::string> names;  // names.front() is its owner (the one with the init recipe)
  torch::Tensor handle;            // the model's tensor: same TensorImpl as module members
  std::vector<int64_t> shape;      // the full tensor's
  ShardLayout layout;
  ShardSlice slice;                // this rank's elements of the flattened tensor
  std::string unit;                // gather_unit(owner name)
  // layout.per_rank() elements: this rank's slice, then padding (what the all-gather
  // sends). Undefined while the tensor has no data on this rank.
  torch::Tensor local;
  // The gathered whole (padded_numel() elements): one storage for every gather of the
  // tensor, its bytes freed at release and allocated again at the next gather, so what
  // autograd keeps of a gathered weight (views such as weight.t()) reads the next gather's
  // values (how FSDP frees and refills its flat parameters). Undefined before the first.
  torch::Tensor full;

  const std::string& name() const { return names.front(); }
  // " (rank 2's slice [44, 64) of 64 elements)": what a finding adds to the tensor's name.
  std::string slice_text(int rank) const;
};

// The frozen weights of one rank's model, each split across ranks (core/shard_layout.hpp):
// at rest a weight's TensorImpl holds only this rank's slice, a 1-D view into `local`, so
// the module members, the walker and the guard see exactly what the rank holds. gather()
// makes a unit's weights whole (the full buffer's bytes allocated, all-gathered and swapped
// in, identity kept); release() swaps the slice back and frees the full buffer's bytes.
//
// Which weights: the parameters that do not train (a LoRA run's base weights). Trainable
// parameters (the adapters) and every buffer stay replicated; derived buffers are
// recomputed on every rank.
class ShardedTensors {
 public:
  ShardedTensors(ModuleWalker& walker, int rank, int world_size);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  std::vector<ShardedTensor>& tensors() { return tensors_; }
  const std::vector<ShardedTensor>& tensors() const { return tensors_; }
  // The sharded tensor registered under `name` (any alias), or null.
  const ShardedTensor* find(const std::string& name) const;
  ShardedTensor* find(const std::string& name);
  bool contains(const std::string& name) const { return find(name) != nullptr; }

  // Makes `tensor` hold this rank's slice of `full` (the whole tensor's values, any shape
  // with its numel, on any device): a new local buffer on `device`, padding zeroed.
  void keep_slice(ShardedTensor& tensor, const torch::Tensor& full, const torch::Device& device);
  // A local buffer with unset values (a slice read from a file goes straight into it).
  void allocate(ShardedTensor& tensor, const torch::Device& device, c10::ScalarType dtype);
  // A repair or a load that made a weight whole again (its full shape, data) leaves it
  // holding its slice: the rank keeps its part, the rest is freed.
  void settle(const torch::Device& device);

  // The gather units of the model, in the walk's order (LitGPT registers the head first).
  const std::vector<std::string>& units() const { return units_; }
  // Collective: every rank gathers the same unit (a unit with no sharded weight: nothing).
  // The unit's weights hold their full values until release(unit). The all-gather goes in
  // pieces of at most kGatherPieceBytes per rank, so a gather costs the full tensor plus one
  // piece from every rank.
  void gather(const std::string& unit, SliceGatherer& gatherer);
  void release(const std::string& unit);
  // What this rank holds (the report's "shards" row): its slices, and which are empty.
  ShardRow row() const;

  static constexpr int64_t kGatherPieceBytes = 4 << 20;

 private:
  void rest(ShardedTensor& tensor);  // the handle becomes a view of local's slice
  const std::vector<size_t>& members(const std::string& unit) const;

  int rank_;
  int world_size_;
  std::vector<ShardedTensor> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
  std::vector<std::string> units_;
  std::unordered_map<std::string, std::vector<size_t>> by_unit_;
};

}  // namespace metaguard
