#include "core/inventory.hpp"

#include <fmt/format.h>

namespace metaguard {

const TensorRecord* Inventory::find(std::string_view name) const {
  if (index_.size() != tensors_.size()) {
    index_.clear();
    index_.reserve(tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<std::vector<std::string>> Inventory::shared_storage_groups() const {
  std::unordered_map<uint64_t, size_t> group_of_key;
  std::vector<std::vector<std::string>> groups;
  for (const auto& record : tensors_) {
    if (record.storage_key == 0) continue;
    auto [it, inserted] = group_of_key.emplace(record.storage_key, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(record.name);
  }
  std::vector<std::vector<std::string>> shared;
  for (auto& group : groups) {
    if (group.size() > 1) shared.push_back(std::move(group));
  }
  return shared;
}

void Inventory::assign_storage_ids() {
  std::unordered_map<uint64_t, size_t> id_of_key;
  id_of_key.reserve(tensors_.size());
  for (auto& record : tensors_) {
    if (record.storage_key == 0) {
      record.storage.reset();
      continue;
    }
    auto [it, inserted] = id_of_key.emplace(record.storage_key, id_of_key.size());
    record.storage = "s" + std::to_string(it->second);
  }
}

}  // namespace metaguard
