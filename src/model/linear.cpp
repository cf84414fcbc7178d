#include "model/linear.hpp"

#include <torch/torch.h>

namespace metaguard {

LinearImpl::LinearImpl(const LinearOptions& opts) : options(opts) { reset(); }

void LinearImpl::reset() {
  const auto& factory = options.tensor_options();
  if (options.shared_weight()) {
    // Empty placeholder of the right device and dtype, replaced by tie_weight().
    weight = register_parameter("weight", torch::empty({0}, factory));
  } else {
    weight = register_parameter("weight", torch::empty({options.out_features(), options.in_features()}, factory));
    declare_init("weight", InitRecipe::kaiming_uniform(options.in_features()));
  }
  if (options.bias()) {
    bias = register_parameter("bias", torch::empty({options.out_features()}, factory));
    declare_init("bias", InitRecipe::linear_bias(options.in_features()));
  } else {
    bias = torch::Tensor();
  }
}

void LinearImpl::tie_weight(const torch::Tensor& shared) {
  TORCH_CHECK(shared.dim() == 2 && shared.size(0) == options.out_features() &&
                  shared.size(1) == options.in_features(),
              "tie_weight: shape ", shared.sizes(), " does not fit a Linear(", options.in_features(), ", ",
              options.out_features(), ")");
  parameters_["weight"] = shared;
  weight = shared;
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::nn::functional::linear(x, weight, bias); }

}  // namespace metaguard
