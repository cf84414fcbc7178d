#pragma once
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/phase.hpp"

namespace metaguard {

// The root causes `--inject` reproduces (CONTRACT.md's fault names).
enum class Fault {
  LoraIndMeta,          // lora-ind-meta
  RopeCacheMeta,        // rope-cache-meta
  SkipBroadcast,        // skip-broadcast
  UntieOnMaterialize,   // untie-on-materialize
  ToEmptyNoInit,        // to-empty-no-init
  RankSeedDivergence,   // rank-seed-divergence
  PartialCheckpoint,    // partial-checkpoint
  // Beyond CONTRACT.md's list (additions): regression faults of the training side.
  OptimizerBeforeReplace,  // optimizer-before-replace
  MoveWithMeta,            // move-with-meta
  // Sharded training (issue 13): what FSDP-style runs got wrong in the field.
  SyncFromMeta,                 // sync-from-meta
  NoInitForModule,              // no-init-for-module
  RopeNotRecomputedAfterShard,  // rope-not-recomputed-after-shard
  EmptyShard,                   // empty-shard
};

std::string_view to_string(Fault fault);
std::optional<Fault> parse_fault(std::string_view name);
std::vector<std::string> fault_names();
// One line: what the fault reproduces.
std::string_view describe(Fault fault);

// The fault table's columns (core/fault.cpp): what reproducing a fault needs.
bool needs_meta_build(Fault fault);  // the run builds on meta when it is injected
bool train_only(Fault fault);        // a real optimizer or device move: `metaguard train` only
int min_ranks(Fault fault);          // ranks it needs (2: it is about what several ranks do)
bool shard_only(Fault fault);        // reproduces a sharded run: `train --strategy shard` only
Phase perturbed_phase(Fault fault);  // the phase whose step it changes
bool any_needs_meta_build(const std::set<Fault>& faults);

// Parses `--inject` values; throws InputError naming the bad one and listing the valid ones.
std::set<Fault> parse_faults(const std::vector<std::string>& names);

}  // namespace metaguard
