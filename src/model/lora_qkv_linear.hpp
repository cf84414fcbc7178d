#pragma once
#include <cstdint>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/linear.hpp"
#include "walk/tensor_declarations.hpp"

namespace metaguard {

struct LoRAQKVLinearOptions {
  LoRAQKVLinearOptions(int64_t in_features, int64_t head_size, int64_t n_head, int64_t n_query_groups)
      : in_features_(in_features), head_size_(head_size), n_head_(n_head), n_query_groups_(n_query_groups) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, head_size);
  TORCH_ARG(int64_t, n_head);
  TORCH_ARG(int64_t, n_query_groups);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(int64_t, r) = 0;
  TORCH_ARG(double, alpha) = 1;
  TORCH_ARG(double, dropout) = 0;
  TORCH_ARG(bool, enable_query) = false;
  TORCH_ARG(bool, enable_key) = false;
  TORCH_ARG(bool, enable_value) = false;
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};

 public:  // TORCH_ARG leaves the section private
  // Rows of the fused projection: n_head query heads and n_query_groups key and value heads.
  int64_t out_features() const { return (n_head_ + 2 * n_query_groups_) * head_size_; }
  // Rows each enabled target writes, in the order query, key, value (disabled ones skipped).
  std::vector<int64_t> target_sizes() const;
  bool has_adapter() const { return r_ > 0 && (enable_query_ || enable_key_ || enable_value_); }
};

// Output rows of the fused QKV projection that the enabled targets write, as int64 on
// `device`: first every query row, then every key row, then every value row, each in
// increasing order. The fused layout is LitGPT's (interleaved by query group): for each of
// the n_query_groups groups, q_per_kv query heads, then one key head, then one value head,
// each head_size rows. This is the recipe of the `lora_ind` buffer.
torch::Tensor lora_qkv_rows(const LoRAQKVLinearOptions& options, const torch::Device& device);

// LitGPT's LoRAQKVLinear: the fused pretrained projection is the child `linear`; one adapter
// per enabled target shares the parameters `lora_A` (k*r, in), k = number of enabled targets,
// block j = target j's A, and `lora_B` (sum of enabled target sizes, r), the targets' B
// matrices stacked. Target j's update lands in its own rows of the fused output:
//   y = linear(x);  y[..., lora_ind] += concat_j(dropout(x) A_j^T B_j^T) * (alpha / r)
// `lora_ind` is a non-persistent derived buffer (no checkpoint holds it; its recipe
// recomputes it), the very tensor LitGPT issues 1378/1385 found stuck on meta.
class LoRAQKVLinearImpl : public torch::nn::Cloneable<LoRAQKVLinearImpl>, public TensorDeclarations {
 public:
  explicit LoRAQKVLinearImpl(const LoRAQKVLinearOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // (..., in) -> (..., out_features)

  bool has_adapter() const { return options.has_adapter(); }
  // Only a strict subset of query, key and value needs a stored index (LitGPT's zero_pad
  // case): with all three enabled every row gets an update and the index is computed when
  // used, so there is no buffer to leave on meta. The original bug needed a subset.
  bool stores_index() const;
  // The fused output rows the adapters write: lora_ind, or computed when not stored.
  torch::Tensor row_index() const;
  double scaling() const { return options.alpha() / static_cast<double>(options.r()); }
  // The update of the enabled rows only: (sum of enabled target sizes, in), already scaled;
  // row i belongs to fused output row lora_ind[i].
  torch::Tensor delta_rows() const;
  void merge();
  void unmerge();
  bool merged() const { return merged_; }

  LoRAQKVLinearOptions options;
  Linear linear{nullptr};
  torch::Tensor lora_A;    // (k * r, in_features)
  torch::Tensor lora_B;    // (sum of enabled target sizes, r)
  torch::Tensor lora_ind;  // (sum of enabled target sizes) int64, derived; undefined unless stores_index()

 private:
  bool merged_ = false;
};

TORCH_MODULE(LoRAQKVLinear);

}  // namespace metaguard
