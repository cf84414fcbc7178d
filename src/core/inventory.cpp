#include "core/inventory.hpp"

#include <fmt/format.h>

#include "core/hashing.hpp"

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
  // Open addressing in one power-of-two table (at most half full): no allocation per
  // storage, which matters on the first walk of a large tree.
  size_t capacity = 16;
  while (capacity < 2 * tensors_.size()) capacity *= 2;
  std::vector<std::pair<uint64_t, size_t>> slots(capacity, {0, 0});
  size_t next_id = 0;
  for (auto& record : tensors_) {
    if (record.storage_key == 0) {
      record.storage.reset();
      continue;
    }
    size_t at = mix64(record.storage_key) & (capacity - 1);
    while (slots[at].first != 0 && slots[at].first != record.storage_key) at = (at + 1) & (capacity - 1);
    if (slots[at].first == 0) slots[at] = {record.storage_key, next_id++};
    record.storage = "s" + std::to_string(slots[at].second);
  }
}

}  // namespace metaguard
