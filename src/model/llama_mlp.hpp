#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"

namespace metaguard {

// LLaMA's SwiGLU feed-forward: proj(silu(fc_1(x)) * fc_2(x)), intermediate_size wide; with
// mlp_class GemmaMLP the gate is GELU (exact or tanh, gelu_approximate) instead of SiLU.
// A mixture of experts builds its experts from it with their own width.
class LLaMAMLPImpl : public torch::nn::Cloneable<LLaMAMLPImpl> {
 public:
  // width 0: the config's intermediate_size.
  explicit LLaMAMLPImpl(const BlockOptions& options, int64_t width = 0);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, n_embd) -> (B, T, n_embd)

  BlockOptions options;
  int64_t width = 0;
  DenseLayer fc_1;
  DenseLayer fc_2;
  DenseLayer proj;
};

TORCH_MODULE(LLaMAMLP);

}  // namespace metaguard
