#pragma once
#include <string>

#include <torch/nn/module.h>

namespace metaguard {

// Puts `tensor` in the parameter registry of `module` under `name`, replacing what was
// there (named_parameters(), state dicts and optimizers built afterwards see it; a module's
// own member variable does not change). Used to reproduce replacement bugs (an untied
// head, an optimizer left with stale tensors); metaguard's repairs never replace.
// The module's own parameter registry, read without copying it (parameters(false) builds
// a fresh OrderedDict with copied keys on every call). Undefined entries are included.
const torch::OrderedDict<std::string, torch::Tensor>& parameter_registry(const torch::nn::Module& module);

void replace_registered_parameter(torch::nn::Module& module, const std::string& name, const torch::Tensor& tensor);

}  // namespace metaguard
