#pragma once
#include <cstdint>
#include <optional>
#include <utility>

#include <torch/types.h>

#include "model/gpt_config.hpp"

namespace metaguard {

// What the rotary cache is computed from (LitGPT's build_rope_cache arguments).
struct RopeSettings {
  int64_t n_elem = 0;                          // rotated dimensions per head (even)
  double base = 10000;
  int64_t condense_ratio = 1;                  // positions are divided by this
  std::optional<RopeAdjustments> adjustments;  // Llama 3 / YaRN / linear frequency changes
  std::optional<double> local_base;            // a second set of angles for local layers
};

RopeSettings rope_settings(const GPTConfig& config);

// Rotary position embeddings as LitGPT computes them (GPT-NeoX's "rotate half" form).
// cos and sin are (seq_len, n_elem): angle(t, i) = (t / condense_ratio) * theta_(i mod n_elem/2),
// theta_j = base^(-2j / n_elem) as adjusted; with a local base they are (seq_len, n_elem, 2),
// [..., 0] the global angles and [..., 1] the local ones. YaRN scales both by its attention
// factor. Computed in float32, returned as `dtype`.
std::pair<torch::Tensor, torch::Tensor> build_rope_cache(int64_t seq_len, const RopeSettings& settings,
                                                         torch::Dtype dtype, const torch::Device& device);

// The factor YaRN with mscale_all_dim puts on attention scores (squared, as LitGPT does); 1 otherwise.
double rope_attention_scale(const GPTConfig& config);

// Rotates the last dimension of x (..., T, n_elem) by cos/sin (T, n_elem):
// x * cos + concat(-x2, x1) * sin, where x1, x2 are x's halves. `interleaved` first regroups
// x's (even, odd) pairs into halves (LitGPT's rope_interleave).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                         bool interleaved = false);

// (size, size) bool, true where a query position may attend to a key position (key <= query).
torch::Tensor build_causal_mask(int64_t size, const torch::Device& device);

}  // namespace metaguard
