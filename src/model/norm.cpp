#include "model/norm.hpp"

#include <torch/torch.h>

namespace metaguard {

NormImpl::NormImpl(const NormOptions& opts) : options(opts) { reset(); }

NormOptions norm_options(const GPTConfig& config, int64_t size, const torch::TensorOptions& tensor_options) {
  return NormOptions(size, config.norm_class)
      .eps(config.norm_eps)
      .unit_offset(config.norm_unit_offset)
      .affine(config.norm_affine)
      .tensor_options(tensor_options);
}

void NormImpl::reset() {
  weight = bias = torch::Tensor();
  if (options.kind() == NormClass::LayerNorm && !options.affine()) return;
  weight = register_parameter("weight", torch::empty({options.size()}, options.tensor_options()));
  declare_init("weight", InitRecipe::ones());
  if (options.kind() == NormClass::LayerNorm) {
    bias = register_parameter("bias", torch::empty({options.size()}, options.tensor_options()));
    declare_init("bias", InitRecipe::zeros());
  }
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (options.kind() == NormClass::LayerNorm) {
    return torch::layer_norm(x, {options.size()}, weight, bias, options.eps());
  }
  torch::Tensor x32 = x.to(torch::kFloat32);
  torch::Tensor mean_square = (x32 * x32).mean(-1, /*keepdim=*/true);
  torch::Tensor normed = x32 * torch::rsqrt(mean_square + options.eps());
  // LitGPT adds the offset in the weight's own dtype (rounded in bf16), then widens.
  torch::Tensor scale = (options.unit_offset() ? weight + 1 : weight).to(torch::kFloat32);
  return (normed * scale).to(x.scalar_type());
}

}  // namespace metaguard
