#pragma once
#include <cstdint>

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"
#include "model/linear.hpp"
#include "model/lora_qkv_linear.hpp"
#include "model/norm.hpp"

namespace metaguard {

// Queries, keys and values cut out of the fused projection's output, before K/V expansion.
struct SplitQKV {
  torch::Tensor q;  // (B, n_head, T, head_size)
  torch::Tensor k;  // (B, n_query_groups, T, head_size)
  torch::Tensor v;  // (B, n_query_groups, T, head_size)
};

// Reads the fused (B, T, (n_head + 2 n_query_groups) head_size) output in LitGPT's layout:
// per query group, q_per_kv query heads, one key head, one value head. Query head h belongs
// to group h / q_per_kv.
SplitQKV split_qkv(const torch::Tensor& qkv, int64_t n_head, int64_t n_query_groups, int64_t head_size);

// LitGPT's CausalSelfAttention: fused QKV projection `attn` (a LoRAQKVLinear in a LoRA model),
// optional query/key norms `norm_q`, `norm_k` (per head, or over all heads for OLMo 2),
// grouped query attention (each key/value head serves q_per_kv query heads), rotary
// embeddings on the first rope_n_elem dimensions of each query and key head, causal softmax
// attention scaled by 1/sqrt(attention_scores_scalar or head_size), optionally soft-capped
// and limited to a sliding window, output projection `proj`. `layer` is the block's index
// (the sliding window is per layer).
class CausalSelfAttentionImpl : public torch::nn::Cloneable<CausalSelfAttentionImpl> {
 public:
  CausalSelfAttentionImpl(const BlockOptions& options, int64_t layer);

  void reset() override;
  // x (B, T, n_embd); cos/sin (T, rope_n_elem); mask (T, T) bool -> (B, T, n_embd)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);

  // The fused projection as a module of either kind.
  torch::Tensor project_qkv(const torch::Tensor& x);
  LinearImpl& qkv_base();

  BlockOptions options;
  int64_t layer = 0;
  Linear attn_plain{nullptr};        // plain GPT: `attn.attn.weight`
  LoRAQKVLinear attn_lora{nullptr};  // LoRA GPT: `attn.attn.linear.weight`, `attn.attn.lora_*`
  DenseLayer proj;
  Norm norm_q{nullptr};  // with norm_qk only
  Norm norm_k{nullptr};

 private:
  // (B, nh, T, T) scores -> (B, nh, T, hs) outputs.
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask);
};

TORCH_MODULE(CausalSelfAttention);

}  // namespace metaguard
