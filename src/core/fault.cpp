#include "core/fault.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {
namespace {

// The fault table: one row per fault, its columns what the fault needs to be reproduced.
struct FaultInfo {
  Fault fault;
  const char* name;
  bool meta_build;  // reproduces a meta-device build: the run builds on meta when it is injected
  bool train_only;  // needs a real optimizer, a device move or sharded training: `metaguard train`, not preflight
  int min_ranks;    // the fault is about what several ranks do
  bool shard_only;  // reproduces a sharded run (train --strategy shard)
  Phase perturbs;   // the phase whose step it changes (src/program/phase_program.cpp)
  const char* description;
};

constexpr FaultInfo kFaults[] = {
    {Fault::LoraIndMeta, "lora-ind-meta", true, false, 1, false, Phase::Materialize,
     "after meta init, the LoRA QKV index buffers are not recomputed (LitGPT issues 1378/1385)"},
    {Fault::RopeCacheMeta, "rope-cache-meta", true, false, 1, false, Phase::Materialize,
     "after meta init, the rotary cos/sin cache is not recomputed"},
    {Fault::SkipBroadcast, "skip-broadcast", true, false, 2, false, Phase::Broadcast,
     "ranks other than 0 never receive the weights; they keep meta parameters"},
    {Fault::UntieOnMaterialize, "untie-on-materialize", true, false, 1, false, Phase::Init,
     "tied weights are materialized as two separate storages"},
    {Fault::ToEmptyNoInit, "to-empty-no-init", true, false, 1, false, Phase::Init,
     "meta tensors get empty storage but no init, load or broadcast"},
    {Fault::RankSeedDivergence, "rank-seed-divergence", false, false, 2, false, Phase::Init,
     "each rank initializes with its own seed, so replicas differ"},
    {Fault::PartialCheckpoint, "partial-checkpoint", true, false, 1, false, Phase::Load,
     "the checkpoint lacks some keys; those tensors stay meta"},
    {Fault::OptimizerBeforeReplace, "optimizer-before-replace", true, true, 1, false, Phase::Materialize,
     "the optimizer is built on the meta model, then materialization replaces the parameters instead of filling "
     "them in place: the optimizer holds stale tensors (train only)"},
    {Fault::MoveWithMeta, "move-with-meta", true, true, 1, false, Phase::BeforeTransfer,
     "derived buffers are not recomputed; the model is moved with to(device) while they are still meta, which "
     "fails with 'Cannot copy out of meta tensor' (train only)"},
    {Fault::SyncFromMeta, "sync-from-meta", true, false, 2, false, Phase::Init,
     "rank 0 never initializes its replicated tensors, then broadcasts them (FSDP's sync_module_states while rank 0 "
     "is still on meta): no rank gets data"},
    {Fault::NoInitForModule, "no-init-for-module", true, true, 1, true, Phase::Init,
     "the sharded init has no init function for the norm layers (FSDP's param_init_fn missing a module type): their "
     "weights stay on meta on every rank (train --strategy shard)"},
    {Fault::RopeNotRecomputedAfterShard, "rope-not-recomputed-after-shard", true, true, 1, true, Phase::Materialize,
     "after sharding and materializing, the rotary cos/sin cache gets storage but is never recomputed: it holds "
     "garbage on every rank (train --strategy shard)"},
    {Fault::EmptyShard, "empty-shard", true, true, 2, true, Phase::Init,
     "a rank whose slice of a weight is empty leaves it on meta (FSDP2 with a dimension smaller than the world "
     "size): the first gather fails with 'Cannot copy out of meta tensor' (train --strategy shard)"},
};

const FaultInfo* info_of(Fault fault) {
  for (const auto& info : kFaults) {
    if (info.fault == fault) return &info;
  }
  return nullptr;
}

}  // namespace

std::string_view to_string(Fault fault) {
  const FaultInfo* info = info_of(fault);
  return info ? info->name : "unknown";
}

std::string_view describe(Fault fault) {
  const FaultInfo* info = info_of(fault);
  return info ? info->description : "";
}

bool needs_meta_build(Fault fault) { return info_of(fault) && info_of(fault)->meta_build; }
bool train_only(Fault fault) { return info_of(fault) && info_of(fault)->train_only; }
bool shard_only(Fault fault) { return info_of(fault) && info_of(fault)->shard_only; }
int min_ranks(Fault fault) { return info_of(fault) ? info_of(fault)->min_ranks : 1; }
Phase perturbed_phase(Fault fault) { return info_of(fault) ? info_of(fault)->perturbs : Phase::Init; }

bool any_needs_meta_build(const std::set<Fault>& faults) {
  for (Fault fault : faults) {
    if (needs_meta_build(fault)) return true;
  }
  return false;
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
