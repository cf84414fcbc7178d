#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "walk/init_recipe.hpp"

namespace metaguard {

// Recomputes a derived tensor's value on `device` from the module's own configuration
// (a LoRA index, a rotary cache, a causal mask). Must not read any other tensor's data.
using DerivedRecipe = std::function<torch::Tensor(const torch::Device& device)>;

// The C++ frontend has no persistence flag for buffers and cannot see plain tensor
// members. A module that mixes this in tells metaguard what it cannot otherwise know:
//
//   struct LoRAQKVLinearImpl : torch::nn::Cloneable<LoRAQKVLinearImpl>, TensorDeclarations {
//     void reset() override {
//       lora_ind = register_buffer("lora_ind", torch::empty({n}, opts));
//       declare_derived("lora_ind", [this](const torch::Device& d) { return compute_ind(d); });
//       weight = register_parameter("weight", torch::empty({out, in}, opts));
//       declare_init("weight", InitRecipe::kaiming_uniform(in));
//     }
//   };
//
// Names are local to the module (no dots), exactly as registered.
class TensorDeclarations {
 public:
  struct Cache {
    torch::Tensor* member;  // the module's own member, so repair swaps it in place
    DerivedRecipe recipe;
  };

  virtual ~TensorDeclarations() = default;

  // A registered buffer that no state dict holds (Python's persistent=False).
  void declare_nonpersistent(const std::string& buffer) { nonpersistent_.emplace(buffer, true); }

  // A registered buffer computed from configuration; implies non-persistent.
  void declare_derived(const std::string& buffer, DerivedRecipe recipe) {
    nonpersistent_[buffer] = true;
    derived_[buffer] = std::move(recipe);
  }

  // A tensor member that is not registered at all (a cache the module keeps for itself).
  void declare_cache(const std::string& name, torch::Tensor* member, DerivedRecipe recipe) {
    caches_[name] = Cache{member, std::move(recipe)};
  }

  // How a parameter or persistent buffer is initialised.
  void declare_init(const std::string& tensor, InitRecipe recipe) {
    init_[tensor] = std::move(recipe);
  }

  bool is_nonpersistent(const std::string& buffer) const { return nonpersistent_.count(buffer) > 0; }
  const DerivedRecipe* derived_recipe(const std::string& name) const {
    if (auto it = derived_.find(name); it != derived_.end()) return &it->second;
    if (auto it = caches_.find(name); it != caches_.end()) return &it->second.recipe;
    return nullptr;
  }
  const InitRecipe* init_recipe(const std::string& name) const {
    auto it = init_.find(name);
    return it == init_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, Cache>& caches() const { return caches_; }

 private:
  std::map<std::string, bool> nonpersistent_;
  std::map<std::string, DerivedRecipe> derived_;
  std::map<std::string, Cache> caches_;
  std::map<std::string, InitRecipe> init_;
};

}  // namespace metaguard
