#pragma once
#include <cstdint>

#include "model/gpt_config.hpp"

namespace metaguard {

// The activations one forward of `micro_batch` sequences of `seq_len` tokens keeps for
// backward, per rank, in bytes (`element_bytes` each), the way LitGPT's sharded fine-tuning
// runs: activation checkpointing per block and scaled_dot_product_attention (no T x T
// probabilities kept). Per token: every block's input (what checkpointing saves), one block's
// activations at a time while backward recomputes it (its input, two normed inputs, the
// attention output and the residual after attention: 5 x n_embd; q, k and v; the MLP's hidden
// activations, three per unit for a gated MLP and two for GPT-NeoX's, times the experts a
// token visits), then the final norm's input and the logits. docs/TRAINING.md works it out.
int64_t activation_bytes(const GPTConfig& config, int64_t micro_batch, int64_t seq_len, int64_t element_bytes);

}  // namespace metaguard
