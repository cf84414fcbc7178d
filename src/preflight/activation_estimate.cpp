#include "preflight/activation_estimate.hpp"

namespace metaguard {

int64_t activation_bytes(const GPTConfig& config, int64_t micro_batch, int64_t seq_len, int64_t element_bytes) {
  const int64_t d = config.n_embd;
  int64_t hidden = config.gated_mlp() ? 3 * config.intermediate_size : 2 * config.intermediate_size;
  if (config.mlp_class == MlpClass::LLaMAMoE) hidden = 3 * config.moe_intermediate_size * config.n_expert_per_token;
  const int64_t checkpoints = config.n_layer * d;           // each block's input
  const int64_t one_block = 5 * d + config.qkv_size() + hidden;  // the block being recomputed
  const int64_t head = d + config.padded_vocab_size;        // final norm's input, logits
  return micro_batch * seq_len * element_bytes * (checkpoints + one_block + head);
}

}  // namespace metaguard
