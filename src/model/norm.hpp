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
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};
};

// The two normalizations LitGPT configs name. RMSNorm: x / sqrt(mean(x^2) + eps) * weight,
// computed in float32 as LitGPT does; parameter `weight` only. LayerNorm: torch's, with
// `weight` and `bias`. Weights start at one, biases at zero.
class NormImpl : public torch::nn::Cloneable<NormImpl>, public TensorDeclarations {
 public:
  explicit NormImpl(const NormOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  NormOptions options;
  torch::Tensor weight;  // (size)
  torch::Tensor bias;    // (size), LayerNorm only
};

TORCH_MODULE(Norm);

}  // namespace metaguard
