#include "model/rope.hpp"

#include <torch/torch.h>

namespace metaguard {

std::pair<torch::Tensor, torch::Tensor> build_rope_cache(int64_t seq_len, int64_t n_elem, double base,
                                                         torch::Dtype dtype, const torch::Device& device) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  torch::Tensor exponents = torch::arange(0, n_elem, 2, f32) / static_cast<double>(n_elem);  // (n_elem/2)
  torch::Tensor theta = torch::pow(base, exponents).reciprocal();
  torch::Tensor positions = torch::arange(seq_len, f32);                                    // (seq_len)
  torch::Tensor angles = torch::outer(positions, theta).repeat({1, 2});                    // (seq_len, n_elem)
  return {angles.cos().to(dtype), angles.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half);
  torch::Tensor x2 = x.narrow(-1, half, half);
  torch::Tensor rotated = torch::cat({-x2, x1}, -1);
  return (x * cos + rotated * sin).to(x.scalar_type());
}

torch::Tensor build_causal_mask(int64_t size, const torch::Device& device) {
  return torch::ones({size, size}, torch::TensorOptions().dtype(torch::kBool).device(device)).tril();
}

}  // namespace metaguard
