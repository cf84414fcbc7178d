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
  bool train_only;  // needs a real optimizer or device move: `metaguard train`, not preflight
  int min_ranks;    // the fault is about what several ranks do
  Phase perturbs;   // the phase whose step it changes (src/program/phase_program.cpp)
  const char* description;
};

constexpr FaultInfo kFaults[] = {
    {Fault::LoraIndMeta, "lora-ind-meta", true, false, 1, Phase::Materialize,
     "after meta init, the LoRA QKV index buffers are not recomputed (LitGPT issues 1378/1385)"},
    {Fault::RopeCacheMeta, "rope-cache-meta", true, false, 1, Phase::Materialize,
     "after meta init, the rotary cos/sin cache is not recomputed"},
    {Fault::SkipBroadcast, "skip-broadcast", true, false, 2, Phase::Broadcast,
     "ranks other than 0 never receive the weights; they keep meta parameters"},
    {Fault::UntieOnMaterialize, "untie-on-materialize", true, false, 1, Phase::Init,
     "tied weights are materialized as two separate storages"},
    {Fault::ToEmptyNoInit, "to-empty-no-init", true, false, 1, Phase::Init,
     "meta tensors get empty storage but no init, load or broadcast"},
    {Fault::RankSeedDivergence, "rank-seed-divergence", false, false, 2, Phase::Init,
     "each rank initializes with its own seed, so replicas differ"},
    {Fault::PartialCheckpoint, "partial-checkpoint", true, false, 1, Phase::Load,
     "the checkpoint lacks some keys; those tensors stay meta"},
    {Fault::OptimizerBeforeReplace, "optimizer-before-replace", true, true, 1, Phase::Materialize,
     "the optimizer is built on the meta model, then materialization replaces the parameters instead of filling "
     "them in place: the optimizer holds stale tensors (train only)"},
    {Fault::MoveWithMeta, "move-with-meta", true, true, 1, Phase::BeforeTransfer,
     "derived buffers are not recomputed; the model is moved with to(device) while they are still meta, which "
     "fails with 'Cannot copy out of meta tensor' (train only)"},
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
