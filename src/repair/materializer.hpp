#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "ledger/ledger.hpp"
#include "walk/module_walker.hpp"
#include "walk/tensor_state_tracker.hpp"

namespace metaguard {

// Where a tensor's values come from, in order of preference.
enum class FillSource { Provided, DerivedRecipe, InitRecipe, None };

struct MaterializeOptions {
  uint64_t seed = 0;                     // run seed for init recipes
  torch::Device device = torch::kCPU;
  int threads = 1;                       // tensors are filled in parallel; bits do not change
  bool fill = true;                      // false: allocate only (to_empty): nothing written
  // Data by qualified name (a checkpoint, rank 0's copy). Copied into the new storage.
  const std::unordered_map<std::string, torch::Tensor>* provided = nullptr;
  bool use_init_recipes = true;
  bool use_derived_recipes = true;
  // Which meta tensors to materialize; default: all of them.
  std::function<bool(const LiveTensor&)> select;
};

struct MaterializeResult {
  std::vector<std::string> materialized;                    // every name, aliases included
  std::vector<std::pair<std::string, std::string>> skipped;  // name, why it stays meta
};

// Gives meta tensors storage in place (identity kept, tied tensors once), then values from
// the first source that has them. A tensor with no source stays meta and is reported in
// `skipped`: never a silent zero-fill. In a dry-run tracker nothing is allocated: the
// tracker records where each tensor would be and what would fill it.
MaterializeResult materialize(ModuleWalker& walker, TensorStateTracker& tracker,
                              const MaterializeOptions& options, Ledger* ledger = nullptr);

// Writes values into tensors that already have storage (uninitialized or stale ones),
// from the same sources. Returns the names written and those without a source.
MaterializeResult refill(ModuleWalker& walker, TensorStateTracker& tracker, const std::vector<std::string>& names,
                         const MaterializeOptions& options, Ledger* ledger = nullptr);

// The key that stands for "these values" in a dry run: same recipe and name (and seed, for
// random recipes), same key; constant recipes give equal values whatever the seed.
uint64_t init_content_key(uint64_t seed, const std::string& name, const InitRecipe& recipe);

}  // namespace metaguard
