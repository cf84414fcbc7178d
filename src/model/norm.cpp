#include "model/norm.hpp"

#include <torch/torch.h>

namespace metaguard {

NormImpl::NormImpl(const NormOptions& opts) : options(opts) { reset(); }

void NormImpl::reset() {
  weight = register_parameter("weight", torch::empty({options.size()}, options.tensor_options()));
  declare_init("weight", InitRecipe::ones());
  if (options.kind() == NormClass::LayerNorm) {
    bias = register_parameter("bias", torch::empty({options.size()}, options.tensor_options()));
    declare_init("bias", InitRecipe::zeros());
  } else {
    bias = torch::Tensor();
  }
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (options.kind() == NormClass::LayerNorm) {
    return torch::layer_norm(x, {options.size()}, weight, bias, options.eps());
  }
  torch::Tensor x32 = x.to(torch::kFloat32);
  torch::Tensor mean_square = (x32 * x32).mean(-1, /*keepdim=*/true);
  torch::Tensor normed = x32 * torch::rsqrt(mean_square + options.eps());
  return (normed * weight.to(torch::kFloat32)).to(x.scalar_type());
}

}  // namespace metaguard
