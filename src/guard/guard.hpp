#pragma once
#include <optional>
#include <stdexcept>
#include <set>
#include <string>
#include <vector>

#include "checks/check.hpp"
#include "guard/guard_policy.hpp"
#include "ledger/ledger.hpp"
#include "repair/materializer.hpp"
#include "repair/repairer.hpp"

namespace metaguard {

// Raised by a `fail` guard point: carries every error finding, so the message can name
// every culprit and the run's report can hold them.
class GuardFailure : public std::runtime_error {
 public:
  GuardFailure(std::string phase, std::vector<Finding> findings);
  const std::string& phase() const { return phase_; }
  const std::vector<Finding>& findings() const { return findings_; }

 private:
  std::string phase_;
  std::vector<Finding> findings_;
};

struct GuardConfig {
  GuardPolicy policy = GuardPolicy::Fail;
  std::optional<int> rank;
  std::vector<std::string> allow;  // --allow globs
  bool lora_run = false;
  MaterializeOptions repair;       // seed, device, threads, sources for repair
  ReplicateFromRank0 replicate;    // multi-rank runs: how to re-broadcast a divergent tensor
};

// Anything a guard point may add to the checks' context (CheckContext is what the checks
// then read: these, plus what the guard itself knows).
struct GuardExtras {
  // Every rank's inventory, indexed by rank: preflight passes its simulated ranks'.
  const std::vector<const Inventory*>* ranks = nullptr;
  // Real ranks: exchange content hashes first and compare replicas (the collective guard
  // fills `ranks` from the exchange; one rank has nothing to compare).
  bool compare_replicas = false;
  // Tensors that are no replicas (a sharded run's frozen weights: a slice per rank): the
  // cross-rank comparison leaves them out.
  const std::set<std::string>* not_replicas = nullptr;
  // `ranks` was exchanged before this guard point and its repairs: the second look after a
  // repair leaves the cross-rank comparison to the caller's own verification (the
  // collective guard exchanges again), rather than compare with what other ranks held before.
  bool ranks_before_repair = false;
  const std::vector<OptimizerEntry>* optimizer = nullptr;
  std::optional<std::string> target_device;
  bool hash_contents = false;
};

// After a repair, the second look decides: an open error of the first look that the second
// no longer sees counts as repaired; problems only the second look sees are added. One rule
// for the one-rank guard and the collective one.
std::vector<Finding> merge_second_look(std::vector<Finding> first, const std::vector<Finding>& second);

// Applies the policy at named points of a run: snapshot into the ledger, run every check,
// then warn, fail, or repair and check again.
class Guard {
 public:
  Guard(ModuleWalker& walker, TensorStateTracker& tracker, Ledger& ledger, GuardConfig config);

  // A phase that is recorded but not checked (e.g. "materialize" in preflight).
  Inventory record(const std::string& phase, bool hash_contents = false);

  // A guard point. Returns the findings (repaired ones marked), after applying the policy;
  // throws GuardFailure under `fail`, or under `repair` when errors remain.
  std::vector<Finding> check_point(const std::string& phase, DataNeeds needs, const GuardExtras& extras = {});

  // Runs the checks on an inventory without touching the ledger or the model.
  std::vector<Finding> check(const Inventory& inventory, const std::string& phase, DataNeeds needs,
                             const GuardExtras& extras) const;

  const std::vector<RepairAction>& repair_log() const { return repair_log_; }
  const GuardConfig& config() const { return config_; }
  void set_replicate(ReplicateFromRank0 replicate) { config_.replicate = std::move(replicate); }

 private:
  ModuleWalker& walker_;
  TensorStateTracker& tracker_;
  Ledger& ledger_;
  GuardConfig config_;
  std::vector<RepairAction> repair_log_;
};

}  // namespace metaguard
