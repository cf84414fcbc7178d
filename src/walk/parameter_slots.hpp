#pragma once
#include <string>

#include <torch/nn/module.h>

namespace metaguard {

// Puts `tensor` in the parameter registry of `module` under `name`, replacing what was
// there (named_parameters(), state dicts and optimizers built afterwards see it; a module's
// own member variable does not change). Used to reproduce replacement bugs (an untied
// head, an optimizer left with stale tensors); metaguard's repairs never replace.
void replace_registered_parameter(torch::nn::Module& module, const std::string& name, const torch::Tensor& tensor);

}  // namespace metaguard
