#include "walk/tie_groups.hpp"

#include <algorithm>
#include <unordered_map>

namespace metaguard {

std::vector<std::vector<LiveTensor*>> tie_groups(const std::vector<LiveTensor*>& tensors) {
  std::vector<std::vector<LiveTensor*>> groups;
  std::unordered_map<const c10::TensorImpl*, size_t> index;
  for (LiveTensor* live : tensors) {
    auto [it, inserted] = index.emplace(live->tensor.unsafeGetTensorImpl(), groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(live);
  }
  for (auto& group : groups) {
    std::stable_partition(group.begin(), group.end(), [](const LiveTensor* m) { return m->init_recipe() != nullptr; });
  }
  return groups;
}

}  // namespace metaguard
