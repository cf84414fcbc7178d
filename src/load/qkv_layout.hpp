#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

namespace metaguard {

struct GPTConfig;

// LitGPT's two checkpoint spellings of the fused attention projection. metaguard's model
// keeps the older one in memory (its tensor names are in the report contract); the
// checkpoint layer converts, exactly, in both directions.
enum class QkvLayout {
  // `transformer.h.N.attn.attn.*` (LitGPT before 0.5): rows grouped per query group, each
  // group q_per_kv query heads, then its key head, then its value head.
  Interleaved,
  // `transformer.h.N.attn.qkv.*` (LitGPT 0.5 on, what it writes today): all query heads,
  // then all key heads, then all value heads.
  Grouped,
};

const char* to_string(QkvLayout layout);

// The layout a checkpoint's keys are in: Grouped when any key names an `.attn.qkv.`
// module, Interleaved otherwise (also for a file without attention weights).
QkvLayout detect_qkv_layout(const std::vector<std::string>& keys);

// A model tensor's name in the grouped layout: "<x>.attn.attn.<y>" -> "<x>.attn.qkv.<y>";
// other names come back unchanged.
std::string grouped_key(std::string_view model_name);

// Whether a model tensor is the fused projection's weight or bias, whose rows the two
// layouts order differently (the LoRA adapters' rows are in the same order in both).
bool has_fused_qkv_rows(std::string_view model_name);

// The heads of the fused projection (from the model's config).
struct QkvGeometry {
  int64_t n_head = 0;
  int64_t n_query_groups = 0;
  int64_t head_size = 0;
};
QkvGeometry qkv_geometry(const GPTConfig& config);

// Reorders the rows (dimension 0) of a fused weight or bias between the layouts. InputError
// when the tensor's rows are not (n_head + 2 n_query_groups) * head_size.
torch::Tensor interleaved_from_grouped(const torch::Tensor& grouped, const QkvGeometry& geometry);
torch::Tensor grouped_from_interleaved(const torch::Tensor& interleaved, const QkvGeometry& geometry);

}  // namespace metaguard
