#include "walk/parameter_slots.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {
namespace {

// `parameters_` is protected in torch::nn::Module. A pointer to it, formed inside a derived
// class, may be applied to any Module: the standard way to reach a protected member
// without a cast to a type the object is not.
struct RegistryAccess : torch::nn::Module {
  static torch::OrderedDict<std::string, torch::Tensor>& parameters_of(torch::nn::Module& module) {
    return module.*(&RegistryAccess::parameters_);
  }
};

}  // namespace

const torch::OrderedDict<std::string, torch::Tensor>& parameter_registry(const torch::nn::Module& module) {
  return RegistryAccess::parameters_of(const_cast<torch::nn::Module&>(module));
}

void replace_registered_parameter(torch::nn::Module& module, const std::string& name, const torch::Tensor& tensor) {
  auto& registry = RegistryAccess::parameters_of(module);
  torch::Tensor* slot = registry.find(name);
  if (!slot) throw std::invalid_argument(fmt::format("module has no parameter '{}'", name));
  *slot = tensor;
}

}  // namespace metaguard
