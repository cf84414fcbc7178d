#include "model/causal_self_attention.hpp"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "model/rope.hpp"

namespace metaguard {

SplitQKV split_qkv(const torch::Tensor& qkv, int64_t n_head, int64_t n_query_groups, int64_t head_size) {
  const int64_t batch = qkv.size(0);
  const int64_t steps = qkv.size(1);
  const int64_t q_per_kv = n_head / n_query_groups;
  // (B, T, G, q_per_kv + 2, hs) -> (B, G, q_per_kv + 2, T, hs)
  torch::Tensor grouped = qkv.view({batch, steps, n_query_groups, q_per_kv + 2, head_size}).permute({0, 2, 3, 1, 4});
  SplitQKV out;
  out.q = grouped.narrow(2, 0, q_per_kv).reshape({batch, n_head, steps, head_size});
  out.k = grouped.select(2, q_per_kv);
  out.v = grouped.select(2, q_per_kv + 1);
  return out;
}

namespace {

// (B, G, T, hs) -> (B, G * q_per_kv, T, hs): group g's head serves query heads g*q_per_kv ...
torch::Tensor expand_groups(const torch::Tensor& kv, int64_t q_per_kv) {
  if (q_per_kv == 1) return kv;
  const auto sizes = kv.sizes();
  return kv.unsqueeze(2)
      .expand({sizes[0], sizes[1], q_per_kv, sizes[2], sizes[3]})
      .reshape({sizes[0], sizes[1] * q_per_kv, sizes[2], sizes[3]});
}

// Rotates the first cos.size(-1) dimensions of each head, passes the rest through.
torch::Tensor rope_prefix(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool interleaved) {
  const int64_t n_elem = cos.size(-1);
  const int64_t head_size = x.size(-1);
  torch::Tensor roped = apply_rope(x.narrow(-1, 0, n_elem), cos, sin, interleaved);
  if (n_elem == head_size) return roped;
  return torch::cat({roped, x.narrow(-1, n_elem, head_size - n_elem)}, -1);
}

// OLMo 2 normalizes all heads' queries (or keys) together: (B, h, T, hs) -> (B, T, h * hs) and back.
torch::Tensor norm_across_heads(NormImpl& norm, const torch::Tensor& x) {
  const auto sizes = x.sizes();
  torch::Tensor flat = x.transpose(1, 2).reshape({sizes[0], sizes[2], sizes[1] * sizes[3]});
  return norm.forward(flat).view({sizes[0], sizes[2], sizes[1], sizes[3]}).transpose(1, 2);
}

}  // namespace

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const BlockOptions& opts, int64_t index) : options(opts), layer(index) {
  reset();
}

void CausalSelfAttentionImpl::reset() {
  const GPTConfig& config = options.config();
  const auto& factory = options.tensor_options();
  attn_plain = nullptr;
  attn_lora = nullptr;
  if (const auto& lora = options.lora()) {
    attn_lora = register_module(
        "attn", LoRAQKVLinear(LoRAQKVLinearOptions(config.n_embd, config.head_size, config.n_head, config.n_query_groups)
                                  .bias(config.qkv_bias())
                                  .r(lora->r)
                                  .alpha(lora->alpha)
                                  .dropout(lora->dropout)
                                  .enable_query(lora->query)
                                  .enable_key(lora->key)
                                  .enable_value(lora->value)
                                  .tensor_options(factory)));
  } else {
    attn_plain = register_module(
        "attn", Linear(LinearOptions(config.n_embd, config.qkv_size()).bias(config.qkv_bias()).tensor_options(factory)));
  }
  proj = DenseLayer(*this, "proj",
                    LinearOptions(config.n_head * config.head_size, config.n_embd)
                        .bias(config.bias)
                        .tensor_options(factory),
                    options, options.lora() && options.lora()->projection);
  norm_q = norm_k = nullptr;
  if (config.norm_qk) {
    const int64_t q_size = config.norm_qk_olmo2 ? config.n_head * config.head_size : config.head_size;
    const int64_t k_size = config.norm_qk_olmo2 ? config.n_query_groups * config.head_size : config.head_size;
    norm_q = register_module("norm_q", Norm(norm_options(config, q_size, factory)));
    norm_k = register_module("norm_k", Norm(norm_options(config, k_size, factory)));
  }
}

torch::Tensor CausalSelfAttentionImpl::project_qkv(const torch::Tensor& x) {
  return attn_lora ? attn_lora->forward(x) : attn_plain->forward(x);
}

LinearImpl& CausalSelfAttentionImpl::qkv_base() { return attn_lora ? *attn_lora->linear : *attn_plain; }

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                               const torch::Tensor& sin, const torch::Tensor& mask) {
  const GPTConfig& config = options.config();
  const int64_t batch = x.size(0);
  const int64_t steps = x.size(1);
  SplitQKV qkv = split_qkv(project_qkv(x), config.n_head, config.n_query_groups, config.head_size);
  if (norm_q) {
    qkv.q = config.norm_qk_olmo2 ? norm_across_heads(*norm_q, qkv.q) : norm_q->forward(qkv.q);  // (B, nh, T, hs)
    qkv.k = config.norm_qk_olmo2 ? norm_across_heads(*norm_k, qkv.k) : norm_k->forward(qkv.k);  // (B, G, T, hs)
  }
  torch::Tensor q = rope_prefix(qkv.q, cos, sin, config.rope_interleave);                                   // (B, nh, T, hs)
  torch::Tensor k = expand_groups(rope_prefix(qkv.k, cos, sin, config.rope_interleave), config.q_per_kv());  // (B, nh, T, hs)
  torch::Tensor v = expand_groups(qkv.v, config.q_per_kv());                                                // (B, nh, T, hs)
  torch::Tensor y = attend(q, k, v, mask);                                                                  // (B, nh, T, hs)
  y = y.transpose(1, 2).reshape({batch, steps, config.n_head * config.head_size});
  return proj.forward(y);
}

torch::Tensor CausalSelfAttentionImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                              const torch::Tensor& causal) {
  const GPTConfig& config = options.config();
  const int64_t scalar = config.attention_scores_scalar > 0 ? config.attention_scores_scalar : config.head_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(scalar)) * rope_attention_scale(config);
  torch::Tensor scores = q.matmul(k.transpose(-2, -1)) * scale;  // (B, nh, T, T)
  if (config.attention_logit_softcapping) {
    const double cap = *config.attention_logit_softcapping;
    scores = torch::tanh(scores / cap) * cap;
  }
  torch::Tensor mask = causal;  // (T, T)
  if (config.sliding_window_at(layer)) {
    // Each query sees itself and the sliding_window_size - 1 positions before it.
    const int64_t steps = causal.size(0);
    mask = causal.logical_and(torch::ones({steps, steps}, causal.options()).triu(-(config.sliding_window_size - 1)));
  }
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  return torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type()).matmul(v);
}

}  // namespace metaguard
