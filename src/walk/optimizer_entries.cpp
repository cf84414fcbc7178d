#include "walk/optimizer_entries.hpp"

#include <unordered_map>

#include <fmt/format.h>

namespace metaguard {

std::vector<OptimizerEntry> optimizer_entries(const torch::optim::Optimizer& optimizer, const ModuleWalker& walker) {
  // The module's parameters by identity, and in order (for the positional guess).
  std::unordered_map<const c10::TensorImpl*, const LiveTensor*> by_identity;
  std::vector<const LiveTensor*> parameters;
  for (const auto& live : walker.tensors()) {
    if (live.kind != TensorKind::Parameter || !live.tensor.defined()) continue;
    if (by_identity.emplace(live.tensor.unsafeGetTensorImpl(), &live).second) parameters.push_back(&live);
  }
  std::vector<OptimizerEntry> entries;
  size_t position = 0;
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i, ++position) {
      const torch::Tensor& tensor = params[i];
      OptimizerEntry entry;
      entry.label = fmt::format("param_groups[{}][{}]", g, i);
      entry.tensor_key = reinterpret_cast<uint64_t>(tensor.unsafeGetTensorImpl());
      entry.device = tensor.device().str();
      auto it = by_identity.find(tensor.unsafeGetTensorImpl());
      if (it != by_identity.end()) {
        entry.expected_name = it->second->name;
      } else if (position < parameters.size() && parameters[position]->tensor.sizes() == tensor.sizes()) {
        entry.expected_name = parameters[position]->name;  // same place, same shape: most likely its twin
      }
      entries.push_back(std::move(entry));
    }
  }
  return entries;
}

}  // namespace metaguard
