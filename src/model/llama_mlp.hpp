#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"

namespace metaguard {

// LLaMA's SwiGLU feed-forward: proj(silu(fc_1(x)) * fc_2(x)), intermediate_size wide.
class LLaMAMLPImpl : public torch::nn::Cloneable<LLaMAMLPImpl> {
 public:
  explicit LLaMAMLPImpl(const BlockOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, n_embd) -> (B, T, n_embd)

  BlockOptions options;
  DenseLayer fc_1;
  DenseLayer fc_2;
  DenseLayer proj;
};

TORCH_MODULE(LLaMAMLP);

}  // namespace metaguard
