#include "model/parameter_count.hpp"

namespace metaguard {
namespace {

int64_t dense(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }
int64_t adapter(int64_t in, int64_t out, int64_t r) { return r * in + out * r; }

// One norm over `size` features.
int64_t norm(const GPTConfig& c, int64_t size) {
  if (c.norm_class == NormClass::RMSNorm) return size;
  return c.norm_affine ? 2 * size : 0;
}

// A gated MLP (fc_1, fc_2, proj) of `width`: its weights, or its adapters' with rank r.
int64_t gated_mlp(const GPTConfig& c, int64_t width) {
  return 2 * dense(c.n_embd, width, c.bias) + dense(width, c.n_embd, c.bias);
}
int64_t gated_mlp_adapters(const GPTConfig& c, int64_t width, int64_t r) {
  return 2 * adapter(c.n_embd, width, r) + adapter(width, c.n_embd, r);
}

int64_t mlp(const GPTConfig& c) {
  switch (c.mlp_class) {
    case MlpClass::LLaMAMoE:
      return dense(c.n_embd, c.n_expert, false) + c.n_expert * gated_mlp(c, c.moe_intermediate_size);
    case MlpClass::LLaMAMLP:
    case MlpClass::GemmaMLP:
      return gated_mlp(c, c.intermediate_size);
    case MlpClass::GptNeoxMLP:
      break;
  }
  return dense(c.n_embd, c.intermediate_size, c.bias) + dense(c.intermediate_size, c.n_embd, c.bias);
}

int64_t mlp_adapters(const GPTConfig& c, int64_t r) {
  switch (c.mlp_class) {
    case MlpClass::LLaMAMoE:
      return adapter(c.n_embd, c.n_expert, r) + c.n_expert * gated_mlp_adapters(c, c.moe_intermediate_size, r);
    case MlpClass::LLaMAMLP:
    case MlpClass::GemmaMLP:
      return gated_mlp_adapters(c, c.intermediate_size, r);
    case MlpClass::GptNeoxMLP:
      break;
  }
  return adapter(c.n_embd, c.intermediate_size, r) + adapter(c.intermediate_size, c.n_embd, r);
}

}  // namespace

ParameterCount count_parameters(const GPTConfig& c, const std::optional<LoRAConfig>& lora) {
  ParameterCount count;
  const int64_t attention_width = c.n_head * c.head_size;
  int64_t layer = dense(c.n_embd, c.qkv_size(), c.qkv_bias()) + dense(attention_width, c.n_embd, c.bias) + mlp(c);
  if (c.norm_1) layer += norm(c, c.n_embd);
  if (c.norm_2 && !c.shared_attention_norm) layer += norm(c, c.n_embd);
  if (c.post_attention_norm) layer += norm(c, c.n_embd);
  if (c.post_mlp_norm) layer += norm(c, c.n_embd);
  if (c.norm_qk) {
    layer += c.norm_qk_olmo2 ? norm(c, attention_width) + norm(c, c.n_query_groups * c.head_size)
                             : 2 * norm(c, c.head_size);
  }
  const int64_t embedding = c.padded_vocab_size * c.n_embd;
  const int64_t head = (c.tie_embeddings ? 0 : embedding) + (c.lm_head_bias ? c.padded_vocab_size : 0);
  count.base = embedding + c.n_layer * layer + norm(c, c.n_embd) + head;

  if (lora) {
    const int64_t r = lora->r;
    int64_t per_layer = 0;
    int64_t targets = 0;
    int64_t rows = 0;
    if (lora->query) { ++targets; rows += c.n_head * c.head_size; }
    if (lora->key) { ++targets; rows += c.n_query_groups * c.head_size; }
    if (lora->value) { ++targets; rows += c.n_query_groups * c.head_size; }
    per_layer += targets * r * c.n_embd + rows * r;
    if (lora->projection) per_layer += adapter(attention_width, c.n_embd, r);
    if (lora->mlp) per_layer += mlp_adapters(c, r);
    count.lora = c.n_layer * per_layer + (lora->head ? adapter(c.n_embd, c.padded_vocab_size, r) : 0);
  }
  return count;
}

}  // namespace metaguard
