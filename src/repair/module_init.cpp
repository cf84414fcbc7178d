#include "repair/module_init.hpp"

#include <torch/torch.h>

#include "repair/recipe_fill.hpp"
#include "walk/tensor_declarations.hpp"

namespace metaguard {
namespace {

std::string join_name(const std::string& prefix, const std::string& local) {
  return prefix.empty() ? local : prefix + "." + local;
}

}  // namespace

void initialize_module(torch::nn::Module& root, uint64_t seed, int threads) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::nn::Module*>> modules{{"", &root}};
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    modules.emplace_back(item.key(), item.value().get());
  }
  for (const auto& [prefix, module_pointer] : modules) {
    torch::nn::Module& module = *module_pointer;
    auto* declarations = dynamic_cast<TensorDeclarations*>(&module);
    if (!declarations) continue;
    for (auto& entry : module.named_parameters(/*recurse=*/false)) {
      if (const InitRecipe* recipe = declarations->init_recipe(entry.key())) {
        fill_by_recipe(entry.value(), *recipe, seed, join_name(prefix, entry.key()), threads);
      }
    }
    for (auto& entry : module.named_buffers(/*recurse=*/false)) {
      torch::Tensor& buffer = entry.value();
      if (const DerivedRecipe* recipe = declarations->derived_recipe(entry.key())) {
        buffer.copy_((*recipe)(buffer.device()));
      } else if (const InitRecipe* recipe = declarations->init_recipe(entry.key())) {
        fill_by_recipe(buffer, *recipe, seed, join_name(prefix, entry.key()), threads);
      }
    }
    for (auto& [name, cache] : declarations->caches()) {
      if (cache.member && cache.member->defined()) cache.member->copy_(cache.recipe(cache.member->device()));
    }
  }
}

}  // namespace metaguard
