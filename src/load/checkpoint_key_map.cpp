#include "load/checkpoint_key_map.hpp"

#include "model/gpt.hpp"

namespace metaguard {

CheckpointKeyMap::CheckpointKeyMap(const CheckpointFile& file, KeyMapping mapping, KeyFilter hidden)
    : file_(file), mapping_(mapping), hidden_(std::move(hidden)) {
  const auto& tensors = file_.tensors();
  by_key_.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string& key = tensors[i].name;
    if (hidden_ && hidden_(key)) continue;
    by_key_.emplace(key, i);  // flattened keys are unique; the first wins if not
    if (is_lora_parameter_name(key)) base_only_ = false;
  }
}

std::optional<CheckpointKeyMap::Match> CheckpointKeyMap::find(const std::string& model_name) const {
  if (auto it = by_key_.find(model_name); it != by_key_.end()) return Match{it->second, model_name};
  if (mapping_ == KeyMapping::LoraBase) {
    std::string base = to_base_key(model_name);
    if (base != model_name) {
      if (auto it = by_key_.find(base); it != by_key_.end()) return Match{it->second, std::move(base)};
    }
  }
  return std::nullopt;
}

}  // namespace metaguard
