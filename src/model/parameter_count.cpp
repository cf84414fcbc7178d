#include "model/parameter_count.hpp"

namespace metaguard {
namespace {

int64_t dense(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }
int64_t adapter(int64_t in, int64_t out, int64_t r) { return r * in + out * r; }

}  // namespace

ParameterCount count_parameters(const GPTConfig& c, const std::optional<LoRAConfig>& lora) {
  ParameterCount count;
  const int64_t norm = c.norm_class == NormClass::LayerNorm ? 2 * c.n_embd : c.n_embd;
  const int64_t attention_width = c.n_head * c.head_size;
  int64_t layer = 2 * norm + dense(c.n_embd, c.qkv_size(), c.bias) + dense(attention_width, c.n_embd, c.bias);
  if (c.mlp_class == MlpClass::LLaMAMLP) {
    layer += 2 * dense(c.n_embd, c.intermediate_size, c.bias) + dense(c.intermediate_size, c.n_embd, c.bias);
  } else {
    layer += dense(c.n_embd, c.intermediate_size, c.bias) + dense(c.intermediate_size, c.n_embd, c.bias);
  }
  const int64_t embedding = c.padded_vocab_size * c.n_embd;
  count.base = embedding + c.n_layer * layer + norm + (c.tie_embeddings ? 0 : embedding);

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
    if (lora->mlp) {
      int64_t up = adapter(c.n_embd, c.intermediate_size, r);
      per_layer += (c.mlp_class == MlpClass::LLaMAMLP ? 2 * up : up) + adapter(c.intermediate_size, c.n_embd, r);
    }
    count.lora = c.n_layer * per_layer + (lora->head ? adapter(c.n_embd, c.padded_vocab_size, r) : 0);
  }
  return count;
}

}  // namespace metaguard
