#pragma once
#include <cstdint>

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"
#include "model/linear.hpp"
#include "model/lora_qkv_linear.hpp"

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
// grouped query attention (each key/value head serves q_per_kv query heads), rotary
// embeddings on the first rope_n_elem dimensions of each query and key head, causal softmax
// attention scaled by 1/sqrt(head_size), output projection `proj`.
class CausalSelfAttentionImpl : public torch::nn::Cloneable<CausalSelfAttentionImpl> {
 public:
  explicit CausalSelfAttentionImpl(const BlockOptions& options);

  void reset() override;
  // x (B, T, n_embd); cos/sin (T, rope_n_elem); mask (T, T) bool -> (B, T, n_embd)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);

  // The fused projection as a module of either kind.
  torch::Tensor project_qkv(const torch::Tensor& x);
  LinearImpl& qkv_base();

  BlockOptions options;
  Linear attn_plain{nullptr};        // plain GPT: `attn.attn.weight`
  LoRAQKVLinear attn_lora{nullptr};  // LoRA GPT: `attn.attn.linear.weight`, `attn.attn.lora_*`
  DenseLayer proj;
};

TORCH_MODULE(CausalSelfAttention);

}  // namespace metaguard
