#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/causal_self_attention.hpp"
#include "model/gpt_neox_mlp.hpp"
#include "model/llama_mlp.hpp"
#include "model/llama_moe.hpp"
#include "model/norm.hpp"

namespace metaguard {

// One transformer layer, LitGPT's Block (a = post_attention_norm(attn(norm_1(x)))):
//   sequential residual: h = a + x;  out = post_mlp_norm(mlp(norm_2(h))) + h
//   parallel residual:   out = post_mlp_norm(mlp(norm_2(x))) + (a + x)
// A norm switched off (norm_1, norm_2 false) is an identity; post norms exist only when
// configured; with shared_attention_norm there is no norm_2 and the MLP reads norm_1(x).
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  BlockImpl(const BlockOptions& options, int64_t layer);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);

  torch::Tensor mlp_forward(const torch::Tensor& x);

  BlockOptions options;
  int64_t layer = 0;
  Norm norm_1{nullptr};               // null: identity
  CausalSelfAttention attn{nullptr};
  Norm post_attention_norm{nullptr};  // null: identity
  Norm norm_2{nullptr};               // null: identity (or shared with norm_1)
  LLaMAMLP llama_mlp{nullptr};        // registered as `mlp` when mlp_class is LLaMAMLP or GemmaMLP
  GptNeoxMLP neox_mlp{nullptr};       // registered as `mlp` when mlp_class is GptNeoxMLP
  LLaMAMoE moe{nullptr};              // registered as `mlp` when mlp_class is LLaMAMoE
  Norm post_mlp_norm{nullptr};        // null: identity
};

TORCH_MODULE(Block);

}  // namespace metaguard
