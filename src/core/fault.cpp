#include "core/fault.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {
namespace {

struct FaultInfo {
  Fault fault;
  const char* name;
  const char* description;
};

constexpr FaultInfo kFaults[] = {
    {Fault::LoraIndMeta, "lora-ind-meta",
     "after meta init, the LoRA QKV index buffers are not recomputed (LitGPT issues 1378/1385)"},
    {Fault::RopeCacheMeta, "rope-cache-meta", "after meta init, the rotary cos/sin cache is not recomputed"},
    {Fault::SkipBroadcast, "skip-broadcast", "ranks other than 0 never receive the weights; they keep meta parameters"},
    {Fault::UntieOnMaterialize, "untie-on-materialize", "tied weights are materialized as two separate storages"},
    {Fault::ToEmptyNoInit, "to-empty-no-init", "meta tensors get empty storage but no init, load or broadcast"},
    {Fault::RankSeedDivergence, "rank-seed-divergence", "each rank initializes with its own seed, so replicas differ"},
    {Fault::PartialCheckpoint, "partial-checkpoint", "the checkpoint lacks some keys; those tensors stay meta"},
    {Fault::OptimizerBeforeReplace, "optimizer-before-replace",
     "the optimizer is built on the meta model, then materialization replaces the parameters instead of filling "
     "them in place: the optimizer holds stale tensors (train only)"},
    {Fault::MoveWithMeta, "move-with-meta",
     "derived buffers are not recomputed; the model is moved with to(device) while they are still meta, which "
     "fails with 'Cannot copy out of meta tensor' (train only)"},
};

}  // namespace

std::string_view to_string(Fault fault) {
  for (const auto& info : kFaults) {
    if (info.fault == fault) return info.name;
  }
  return "unknown";
}

std::string_view describe(Fault fault) {
  for (const auto& info : kFaults) {
    if (info.fault == fault) return info.description;
  }
  return "";
}

std::optional<Fault> parse_fault(std::string_view name) {
  for (const auto& info : kFaults) {
    if (name == info.name) return info.fault;
  }
  return std::nullopt;
}

std::vector<std::string> fault_names() {
  std::vector<std::string> names;
  for (const auto& info : kFaults) names.emplace_back(info.name);
  return names;
}

std::set<Fault> parse_faults(const std::vector<std::string>& names) {
  std::set<Fault> faults;
  for (const auto& name : names) {
    auto fault = parse_fault(name);
    if (!fault) {
      throw InputError(fmt::format("--inject: unknown fault '{}' (known: {})", name, fmt::join(fault_names(), ", ")));
    }
    faults.insert(*fault);
  }
  return faults;
}

}  // namespace metaguard
