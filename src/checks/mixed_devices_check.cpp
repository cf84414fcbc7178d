#include "checks/mixed_devices_check.hpp"

#include <map>

#include <fmt/format.h>

namespace metaguard {

void MixedDevicesCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  const auto& tensors = context.inventory.tensors();
  if (context.target_device) {
    for (const auto& tensor : tensors) {
      if (tensor.is_meta() || tensor.device == *context.target_device) continue;
      out.push_back(context.make(
          std::string(code()), Severity::Error, &tensor,
          fmt::format("{} is on {} but the model runs on {}{}.", tensor.name, tensor.device,
                      *context.target_device, context.where()),
          fmt::format("move the whole model with .to({}) after materialization", *context.target_device)));
    }
    return;
  }
  // Without a target: the device most of a module's tensors use is its device; the rest are
  // out of place. Nearly always every tensor is on one device: find that out first, cheaply.
  const std::string* only_device = nullptr;
  bool several = false;
  for (const auto& tensor : tensors) {
    if (tensor.is_meta()) continue;
    if (!only_device) only_device = &tensor.device;
    else if (tensor.device != *only_device) {
      several = true;
      break;
    }
  }
  if (!several) return;
  std::map<std::string, std::map<std::string, int>> devices_by_module;
  for (const auto& tensor : tensors) {
    if (!tensor.is_meta()) ++devices_by_module[tensor.module_path()][tensor.device];
  }
  for (const auto& tensor : tensors) {
    if (tensor.is_meta()) continue;
    const auto& counts = devices_by_module[tensor.module_path()];
    if (counts.size() < 2) continue;
    std::string majority;
    int best = -1;
    for (const auto& [device, count] : counts) {
      if (count > best) {
        best = count;
        majority = device;
      }
    }
    if (tensor.device == majority) continue;
    out.push_back(context.make(
        std::string(code()), Severity::Error, &tensor,
        fmt::format("{} is on {} while the rest of module '{}' is on {}{}.", tensor.name, tensor.device,
                    tensor.module_path(), majority, context.where()),
        "move the module as a whole, after every tensor has been materialized"));
  }
}

}  // namespace metaguard
