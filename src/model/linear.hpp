#pragma once
#include <cstdint>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "walk/tensor_declarations.hpp"

namespace metaguard {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  // The weight will be another module's tensor (a tied LM head): reset() registers only a
  // placeholder and declares no init recipe; the owner's recipe gives the values.
  TORCH_ARG(bool, shared_weight) = false;
  // Device and dtype of the parameters; on meta nothing is allocated.
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};
};

// y = x W^T + b, with the parameter names of torch.nn.Linear (`weight`, `bias`) and
// PyTorch's default init declared as recipes, so a meta-built layer can be materialized
// to the same bits as a directly built one.
class LinearImpl : public torch::nn::Cloneable<LinearImpl>, public TensorDeclarations {
 public:
  LinearImpl(int64_t in_features, int64_t out_features) : LinearImpl(LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const LinearOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  // Makes `shared` this layer's weight (same tensor, same storage): weight tying.
  void tie_weight(const torch::Tensor& shared);

  LinearOptions options;
  torch::Tensor weight;  // (out_features, in_features)
  torch::Tensor bias;    // (out_features) or undefined
};

TORCH_MODULE(Linear);

}  // namespace metaguard
