#pragma once
#include <cstdint>
#include <string_view>

#include <torch/types.h>

#include "walk/init_recipe.hpp"

namespace metaguard {

// Elements per independently seeded chunk. Fixed: changing it changes every init's bits.
inline constexpr int64_t kInitChunkElements = int64_t{1} << 20;

// Fills `tensor` (not meta, contiguous) in place by `recipe`, deterministically from
// (run_seed, name). `threads` > 1 splits the chunks over that many threads.
void fill_by_recipe(torch::Tensor& tensor, const InitRecipe& recipe, uint64_t run_seed,
                    std::string_view name, int threads = 1);

}  // namespace metaguard
