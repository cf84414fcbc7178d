#include "load/qkv_layout.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "model/gpt_config.hpp"

namespace metaguard {
namespace {

constexpr std::string_view kInterleavedModule = ".attn.attn.";
constexpr std::string_view kGroupedModule = ".attn.qkv.";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// For each row of the interleaved layout, the row of the grouped layout that holds it.
torch::Tensor grouped_row_of_interleaved(const QkvGeometry& g, int64_t rows) {
  const int64_t q_per_kv = g.n_head / g.n_query_groups;
  if (rows != (g.n_head + 2 * g.n_query_groups) * g.head_size) {
    throw InputError(fmt::format("a fused QKV tensor has {} rows, but {} query and 2 x {} key/value heads of size {} need {}",
                                 rows, g.n_head, g.n_query_groups, g.head_size,
                                 (g.n_head + 2 * g.n_query_groups) * g.head_size));
  }
  std::vector<int64_t> index;
  index.reserve(static_cast<size_t>(rows));
  const int64_t keys = g.n_head * g.head_size;                // first key row (grouped)
  const int64_t values = keys + g.n_query_groups * g.head_size;  // first value row (grouped)
  for (int64_t group = 0; group < g.n_query_groups; ++group) {
    for (int64_t q = 0; q < q_per_kv; ++q) {
      const int64_t head = group * q_per_kv + q;
      for (int64_t i = 0; i < g.head_size; ++i) index.push_back(head * g.head_size + i);
    }
    for (int64_t i = 0; i < g.head_size; ++i) index.push_back(keys + group * g.head_size + i);
    for (int64_t i = 0; i < g.head_size; ++i) index.push_back(values + group * g.head_size + i);
  }
  return torch::tensor(index, torch::kInt64);
}

}  // namespace

const char* to_string(QkvLayout layout) { return layout == QkvLayout::Grouped ? "grouped" : "interleaved"; }

QkvLayout detect_qkv_layout(const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    if (key.find(kGroupedModule) != std::string::npos) return QkvLayout::Grouped;
  }
  return QkvLayout::Interleaved;
}

std::string grouped_key(std::string_view name) {
  auto at = name.rfind(kInterleavedModule);
  if (at == std::string_view::npos) return std::string(name);
  return std::string(name.substr(0, at)) + std::string(kGroupedModule) +
         std::string(name.substr(at + kInterleavedModule.size()));
}

bool has_fused_qkv_rows(std::string_view name) {
  for (std::string_view leaf : {"attn.attn.weight", "attn.attn.bias", "attn.attn.linear.weight", "attn.attn.linear.bias"}) {
    if (ends_with(name, leaf) && (name.size() == leaf.size() || name[name.size() - leaf.size() - 1] == '.')) return true;
  }
  return false;
}

QkvGeometry qkv_geometry(const GPTConfig& config) { return {config.n_head, config.n_query_groups, config.head_size}; }

torch::Tensor interleaved_from_grouped(const torch::Tensor& grouped, const QkvGeometry& geometry) {
  torch::Tensor index = grouped_row_of_interleaved(geometry, grouped.size(0)).to(grouped.device());
  return grouped.index_select(0, index);
}

torch::Tensor grouped_from_interleaved(const torch::Tensor& interleaved, const QkvGeometry& geometry) {
  torch::Tensor index = grouped_row_of_interleaved(geometry, interleaved.size(0)).to(interleaved.device());
  // The inverse permutation: grouped[index[i]] = interleaved[i].
  return torch::empty_like(interleaved).index_copy_(0, index, interleaved);
}

}  // namespace metaguard
