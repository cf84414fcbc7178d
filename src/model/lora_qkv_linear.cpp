#include "model/lora_qkv_linear.hpp"

#include <numeric>

#include <torch/torch.h>

namespace metaguard {

std::vector<int64_t> LoRAQKVLinearOptions::target_sizes() const {
  std::vector<int64_t> sizes;
  if (enable_query_) sizes.push_back(n_head_ * head_size_);
  if (enable_key_) sizes.push_back(n_query_groups_ * head_size_);
  if (enable_value_) sizes.push_back(n_query_groups_ * head_size_);
  return sizes;
}

torch::Tensor lora_qkv_rows(const LoRAQKVLinearOptions& options, const torch::Device& device) {
  // Each head-sized slice of the fused output has a slot inside its group: slots
  // 0 .. q_per_kv-1 are queries, slot q_per_kv the key, slot q_per_kv+1 the value.
  const int64_t q_per_kv = options.n_head() / options.n_query_groups();
  const int64_t group_slots = q_per_kv + 2;
  torch::Tensor rows = torch::arange(options.out_features(), torch::TensorOptions().dtype(torch::kInt64));
  torch::Tensor slot = torch::div(rows, options.head_size(), "floor").remainder(group_slots);
  std::vector<torch::Tensor> parts;
  if (options.enable_query()) parts.push_back(rows.masked_select(slot < q_per_kv));
  if (options.enable_key()) parts.push_back(rows.masked_select(slot == q_per_kv));
  if (options.enable_value()) parts.push_back(rows.masked_select(slot == q_per_kv + 1));
  if (parts.empty()) return torch::empty({0}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  return torch::cat(parts).to(device);
}

namespace {

// index_add with a meta index and real weights dispatches to the meta kernel: merge would
// silently do nothing. Refuse loudly instead (LitGPT issues 1378/1385).
void check_index(const torch::Tensor& lora_ind, const torch::Tensor& weight) {
  TORCH_CHECK(lora_ind.device() == weight.device(), "LoRAQKVLinear: lora_ind is on ", lora_ind.device(),
              " but the weights are on ", weight.device(),
              "; the derived index buffer was not recomputed after initialization on meta");
}

}  // namespace

LoRAQKVLinearImpl::LoRAQKVLinearImpl(const LoRAQKVLinearOptions& opts) : options(opts) { reset(); }

void LoRAQKVLinearImpl::reset() {
  const auto& factory = options.tensor_options();
  linear = register_module("linear", Linear(LinearOptions(options.in_features(), options.out_features())
                                                .bias(options.bias())
                                                .tensor_options(factory)));
  if (!has_adapter()) {
    lora_A = lora_B = lora_ind = torch::Tensor();
    return;
  }
  std::vector<int64_t> sizes = options.target_sizes();
  const int64_t enabled_rows = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  const int64_t targets = static_cast<int64_t>(sizes.size());
  lora_A = register_parameter("lora_A", torch::empty({targets * options.r(), options.in_features()}, factory));
  lora_B = register_parameter("lora_B", torch::empty({enabled_rows, options.r()}, factory));
  declare_init("lora_A", InitRecipe::kaiming_uniform(options.in_features()));
  declare_init("lora_B", InitRecipe::zeros());
  if (!stores_index()) {
    lora_ind = torch::Tensor();
    return;
  }
  lora_ind = register_buffer("lora_ind", torch::empty({enabled_rows}, factory.dtype(torch::kInt64)));
  // Captures the options by value: clone() copies modules, so `this` must not leak in.
  declare_derived("lora_ind", [layer = options](const torch::Device& device) { return lora_qkv_rows(layer, device); });
}

bool LoRAQKVLinearImpl::stores_index() const {
  return has_adapter() && !(options.enable_query() && options.enable_key() && options.enable_value());
}

torch::Tensor LoRAQKVLinearImpl::row_index() const {
  if (stores_index()) {
    check_index(lora_ind, linear->weight);
    return lora_ind;
  }
  return lora_qkv_rows(options, linear->weight.device());
}

torch::Tensor LoRAQKVLinearImpl::delta_rows() const {
  std::vector<int64_t> sizes = options.target_sizes();
  std::vector<torch::Tensor> blocks;
  int64_t b_offset = 0;
  for (size_t j = 0; j < sizes.size(); ++j) {
    torch::Tensor a = lora_A.narrow(0, static_cast<int64_t>(j) * options.r(), options.r());  // (r, in)
    torch::Tensor b = lora_B.narrow(0, b_offset, sizes[j]);                                 // (size_j, r)
    blocks.push_back(b.matmul(a));
    b_offset += sizes[j];
  }
  return torch::cat(blocks) * scaling();
}

torch::Tensor LoRAQKVLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor pretrained = linear->forward(x);
  if (!has_adapter() || merged_) return pretrained;
  const torch::Tensor rows = row_index();
  torch::Tensor input = options.dropout() > 0 ? torch::dropout(x, options.dropout(), is_training()) : x;
  torch::Tensor after_a = input.matmul(lora_A.t());  // (..., k * r)
  std::vector<int64_t> sizes = options.target_sizes();
  std::vector<torch::Tensor> updates;
  int64_t b_offset = 0;
  for (size_t j = 0; j < sizes.size(); ++j) {
    torch::Tensor a_out = after_a.narrow(-1, static_cast<int64_t>(j) * options.r(), options.r());  // (..., r)
    updates.push_back(a_out.matmul(lora_B.narrow(0, b_offset, sizes[j]).t()));                     // (..., size_j)
    b_offset += sizes[j];
  }
  // Scatter-add the enabled targets' updates into their rows; the rest get nothing.
  return pretrained.index_add(-1, rows, torch::cat(updates, -1), scaling());
}

void LoRAQKVLinearImpl::merge() {
  if (!has_adapter() || merged_) return;
  const torch::Tensor rows = row_index();
  torch::NoGradGuard no_grad;
  linear->weight.index_add_(0, rows, delta_rows().to(linear->weight.scalar_type()));
  merged_ = true;
}

void LoRAQKVLinearImpl::unmerge() {
  if (!has_adapter() || !merged_) return;
  const torch::Tensor rows = row_index();
  torch::NoGradGuard no_grad;
  linear->weight.index_add_(0, rows, delta_rows().to(linear->weight.scalar_type()), -1);
  merged_ = false;
}

}  // namespace metaguard
