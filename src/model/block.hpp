#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/causal_self_attention.hpp"
#include "model/gpt_neox_mlp.hpp"
#include "model/llama_mlp.hpp"
#include "model/norm.hpp"

namespace metaguard {

// One transformer layer, LitGPT's Block:
//   sequential residual: x = x + attn(norm_1(x));  x = x + mlp(norm_2(x))
//   parallel residual:   x = x + attn(norm_1(x)) + mlp(norm_2(x))
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  explicit BlockImpl(const BlockOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);

  torch::Tensor mlp_forward(const torch::Tensor& x);

  BlockOptions options;
  Norm norm_1{nullptr};
  CausalSelfAttention attn{nullptr};
  Norm norm_2{nullptr};
  LLaMAMLP llama_mlp{nullptr};      // registered as `mlp` when mlp_class is LLaMAMLP
  GptNeoxMLP neox_mlp{nullptr};     // registered as `mlp` when mlp_class is GptNeoxMLP
};

TORCH_MODULE(Block);

}  // namespace metaguard
