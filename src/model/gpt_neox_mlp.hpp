#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"

namespace metaguard {

// GPT-NeoX's feed-forward: proj(gelu(fc(x))), exact (erf) GELU or its tanh approximation
// (gelu_approximate), intermediate_size wide.
class GptNeoxMLPImpl : public torch::nn::Cloneable<GptNeoxMLPImpl> {
 public:
  explicit GptNeoxMLPImpl(const BlockOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, n_embd) -> (B, T, n_embd)

  BlockOptions options;
  DenseLayer fc;
  DenseLayer proj;
};

TORCH_MODULE(GptNeoxMLP);

}  // namespace metaguard
