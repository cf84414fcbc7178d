#pragma once
#include <cstdint>
#include <utility>

#include <torch/types.h>

namespace metaguard {

// Rotary position embeddings as LitGPT computes them (GPT-NeoX's "rotate half" form).
// cos and sin are (seq_len, n_elem): angle(t, i) = t * base^(-2 (i mod n_elem/2) / n_elem),
// i.e. the n_elem/2 frequencies repeated twice. Computed in float32, returned as `dtype`.
std::pair<torch::Tensor, torch::Tensor> build_rope_cache(int64_t seq_len, int64_t n_elem, double base,
                                                         torch::Dtype dtype, const torch::Device& device);

// Rotates the last dimension of x (..., T, n_elem) by cos/sin (T, n_elem):
// x * cos + concat(-x2, x1) * sin, where x1, x2 are x's halves.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// (size, size) bool, true where a query position may attend to a key position (key <= query).
torch::Tensor build_causal_mask(int64_t size, const torch::Device& device);

}  // namespace metaguard
