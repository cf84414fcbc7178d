#include "load/checkpoint_key_map.hpp"

#include "model/gpt.hpp"

namespace metaguard {

CheckpointKeyMap::CheckpointKeyMap(const CheckpointFile& file, KeyMapping mapping, KeyFilter hidden)
    : file_(file), mapping_(mapping), hidden_(std::move(hidden)) {
  const auto& tensors = file_.tensors();
  std::vector<std::string> keys;
  keys.reserve(tensors.size());
  for (const auto& tensor : tensors) keys.push_back(tensor.name);
  layout_ = detect_qkv_layout(keys);
  by_key_.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string& key = tensors[i].name;
    if (hidden_ && hidden_(key)) continue;
    by_key_.emplace(key, i);  // flattened keys are unique; the first wins if not
    if (is_lora_parameter_name(key)) base_only_ = false;
  }
}

std::optional<CheckpointKeyMap::Match> CheckpointKeyMap::find(const std::string& model_name) const {
  const std::string name = layout_ == QkvLayout::Grouped ? grouped_key(model_name) : model_name;
  const bool reorder = layout_ == QkvLayout::Grouped && has_fused_qkv_rows(model_name);
  if (auto it = by_key_.find(name); it != by_key_.end()) return Match{it->second, name, reorder};
  if (mapping_ == KeyMapping::LoraBase) {
    std::string base = to_base_key(name);
    if (base != name) {
      if (auto it = by_key_.find(base); it != by_key_.end()) return Match{it->second, std::move(base), reorder};
    }
  }
  return std::nullopt;
}

}  // namespace metaguard
