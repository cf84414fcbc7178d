#pragma once
#include <memory>
#include <string>

#include <torch/nn/module.h>

namespace metaguard {

// A module's own registries, read in place. torch::nn::Module hands them out only as
// fresh OrderedDicts with copied keys (parameters(false), named_buffers(false),
// named_children()), which would make a walk cost far more than the tensors it lists.
// Undefined parameter entries are included, as in the registry itself.
using TensorRegistry = torch::OrderedDict<std::string, torch::Tensor>;
using ChildRegistry = torch::OrderedDict<std::string, std::shared_ptr<torch::nn::Module>>;

const TensorRegistry& parameter_registry(const torch::nn::Module& module);
const TensorRegistry& buffer_registry(const torch::nn::Module& module);
const ChildRegistry& child_registry(const torch::nn::Module& module);

// Puts `tensor` in the parameter registry of `module` under `name`, replacing what was
// there (named_parameters(), state dicts and optimizers built afterwards see it; a module's
// own member variable does not change). Used to reproduce replacement bugs (an untied
// head, an optimizer left with stale tensors); metaguard's repairs never replace.
void replace_registered_parameter(torch::nn::Module& module, const std::string& name, const torch::Tensor& tensor);

}  // namespace metaguard
