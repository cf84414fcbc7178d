#pragma once
#include <cstdint>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/gpt_config.hpp"
#include "walk/tensor_declarations.hpp"

namespace metaguard {

struct NormOptions {
  NormOptions(int64_t size, NormClass kind) : size_(size), kind_(kind) {}
  TORCH_ARG(int64_t, size);
  TORCH_ARG(NormClass, kind);
  TORCH_ARG(double, eps) = 1e-5;
  // RMSNorm scales by (1 + weight) (LitGPT's Gemma models).
  TORCH_ARG(bool, unit_offset) = false;
  // LayerNorm with a weight and a bias; false: neither (LitGPT's OLMo models).
  TORCH_ARG(bool, affine) = true;
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};
};

// The two normalizations LitGPT configs name. RMSNorm: x / sqrt(mean(x^2) + eps) * weight
// (or * (1 + weight)), computed in float32 as LitGPT does; parameter `weight` only.
// LayerNorm: torch's, with `weight` and `bias` unless not affine. Weights start at one,
// biases at zero.
class NormImpl : public torch::nn::Cloneable<NormImpl>, public TensorDeclarations {
 public:
  explicit NormImpl(const NormOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  NormOptions options;
  torch::Tensor weight;  // (size)
  torch::Tensor bias;    // (size), LayerNorm only
};

// The norm a config asks for, of `size` features (n_embd, or a head for q/k norms).
NormOptions norm_options(const GPTConfig& config, int64_t size, const torch::TensorOptions& tensor_options);

TORCH_MODULE(Norm);

}  // namespace metaguard
