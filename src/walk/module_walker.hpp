#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <torch/nn/module.h>

#include "core/inventory.hpp"
#include "walk/tensor_declarations.hpp"
#include "walk/tensor_facts.hpp"
#include "walk/tensor_state_tracker.hpp"

namespace metaguard {

// One tensor of a live module tree, with what metaguard needs to check and repair it.
struct LiveTensor {
  std::string name;         // qualified, '.'-joined as named_parameters() joins it
  size_t local_start = 0;   // where the name as registered in the owning module begins
  TensorKind kind = TensorKind::Parameter;
  torch::nn::Module* module = nullptr;
  TensorDeclarations* declarations = nullptr;  // null when the module declares nothing
  torch::Tensor tensor;                        // a handle: same TensorImpl as the module's
  torch::Tensor* cache_member = nullptr;       // declared caches only
  // Looked up once at the walk: declarations are made at registration and never erased.
  const DerivedRecipe* derived_recipe_ = nullptr;
  const InitRecipe* init_recipe_ = nullptr;

  // The name as registered in the owning module (the last part of `name`).
  std::string local_name() const { return name.substr(local_start); }
  bool local_name_is(std::string_view local) const { return std::string_view(name).substr(local_start) == local; }
  const DerivedRecipe* derived_recipe() const { return derived_recipe_; }
  const InitRecipe* init_recipe() const { return init_recipe_; }
  bool derived() const { return derived_recipe_ != nullptr; }
};

struct SnapshotOptions {
  bool verify_derived = false;  // recompute derived recipes and compare: O(bytes of those)
  bool hash_contents = false;   // hash every tensor with data: O(bytes), parallel
  int threads = 1;
  // Threads that describe a large tree (at least kParallelWalkTensors tensors); each
  // record is independent of the others, so the split changes nothing in the result.
  int describe_threads = 2;
};

// From this many tensors on, a snapshot describes them on a second thread; below, it
// costs more than it saves. (The walk itself stays on one thread: it spends its time
// touching fresh memory, which a second thread does not speed up.)
inline constexpr size_t kParallelWalkTensors = 4096;

// Lists every parameter, buffer (persistent or not) and declared cache of a module tree.
// The first walk learns the names; later snapshots re-read each module's registry by
// position, so they cost O(tensors) with no string building, and still see a tensor that
// was replaced rather than filled in place.
class ModuleWalker {
 public:
  explicit ModuleWalker(torch::nn::Module& root, const TensorStateTracker* tracker = nullptr);

  Inventory snapshot(const SnapshotOptions& options = {});

  // In inventory order: parameters (named_parameters() order), buffers, caches.
  const std::vector<LiveTensor>& tensors() const { return tensors_; }
  std::vector<LiveTensor>& tensors() { return tensors_; }
  LiveTensor* find(const std::string& name);
  torch::nn::Module& root() { return root_; }
  const TensorStateTracker* tracker() const { return tracker_; }

  // Re-learns names after the tree's structure changed (tensors added or removed).
  void rewalk();
  // Brings tensors() up to date with the module tree (a tensor replaced rather than filled in
  // place, one added or removed) without describing anything: what snapshot() does first.
  void refresh() {
    if (!refresh_handles()) rewalk();
  }

 private:
  struct ModuleSlots {
    torch::nn::Module* module;
    size_t first_parameter, parameter_count;
  };

  bool refresh_handles();
  // Fills a default-constructed record in place (no temporary to move).
  void describe(const LiveTensor& live, const SnapshotOptions& options, TensorRecord& r) const;

  torch::nn::Module& root_;
  const TensorStateTracker* tracker_;
  std::vector<LiveTensor> tensors_;
  std::vector<ModuleSlots> slots_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
  std::vector<uint64_t> last_storage_keys_;         // the last snapshot's storages, by position
  std::vector<std::optional<std::string>> last_storage_ids_;
};


}  // namespace metaguard
