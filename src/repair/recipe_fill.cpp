#include "repair/recipe_fill.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/hashing.hpp"
#include "core/parallel.hpp"
#include "repair/normal_sampler.hpp"

namespace metaguard {

namespace {

bool is_real_floating(c10::ScalarType type) {
  return type == torch::kFloat || type == torch::kDouble || type == torch::kHalf || type == torch::kBFloat16;
}

void fill_chunk(torch::Tensor chunk, const InitRecipe& recipe, uint64_t seed) {
  switch (recipe.kind) {
    case InitRecipe::Kind::Uniform: {
      auto generator = at::detail::createCPUGenerator(seed);
      chunk.uniform_(recipe.a, recipe.b, generator);
      break;
    }
    case InitRecipe::Kind::Normal: {
      if (!is_real_floating(chunk.scalar_type())) {
        // Complex (or a type normal_ refuses, which it then says): LibTorch's own sampler.
        auto generator = at::detail::createCPUGenerator(seed);
        chunk.normal_(recipe.a, recipe.b, generator);
        break;
      }
      // Drawn in float32 (the chunk is contiguous), converted for the other floating types.
      NormalSampler sampler(seed);
      torch::Tensor values = chunk.scalar_type() == torch::kFloat ? chunk : torch::empty({chunk.numel()}, torch::kFloat);
      sampler.fill(values.data_ptr<float>(), values.numel(), static_cast<float>(recipe.a), static_cast<float>(recipe.b));
      if (!values.is_same(chunk)) chunk.copy_(values);
      break;
    }
    default: break;
  }
}

}  // namespace

void fill_by_recipe(torch::Tensor& tensor, const InitRecipe& recipe, uint64_t run_seed,
                    std::string_view name, int threads) {
  torch::NoGradGuard no_grad;
  switch (recipe.kind) {
    case InitRecipe::Kind::Zeros: tensor.zero_(); return;
    case InitRecipe::Kind::Ones: tensor.fill_(1); return;
    case InitRecipe::Kind::Constant: tensor.fill_(recipe.a); return;
    case InitRecipe::Kind::Custom: {
      at::Generator generator = at::detail::createCPUGenerator(tensor_seed(run_seed, name));
      recipe.custom(tensor, generator);
      return;
    }
    case InitRecipe::Kind::Uniform:
    case InitRecipe::Kind::Normal: break;
  }
  // Random recipes: fixed-size chunks, each with its own stream, generated on CPU so the
  // bits do not depend on the device either; then copied when the tensor lives elsewhere.
  torch::Tensor target = tensor.device().is_cpu() && tensor.is_contiguous()
                             ? tensor
                             : torch::empty(tensor.sizes(), tensor.options().device(torch::kCPU));
  torch::Tensor flat = target.view({-1});
  const int64_t numel = flat.numel();
  const int64_t chunks = (numel + kInitChunkElements - 1) / kInitChunkElements;
  auto fill_range = [&](int64_t first, int64_t step) {
    torch::NoGradGuard worker_no_grad;  // grad mode is per thread: each worker needs its own
    for (int64_t c = first; c < chunks; c += step) {
      int64_t begin = c * kInitChunkElements;
      int64_t end = std::min(numel, begin + kInitChunkElements);
      fill_chunk(flat.slice(0, begin, end), recipe, tensor_seed(run_seed, name, static_cast<uint64_t>(c)));
    }
  };
  int workers = static_cast<int>(std::min<int64_t>(std::max(threads, 1), std::max<int64_t>(chunks, 1)));
  run_parallel(workers, fill_range);
  if (!target.is_same(tensor)) tensor.copy_(target);
}

}  // namespace metaguard
