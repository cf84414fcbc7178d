#include "guard/guard.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "checks/registry.hpp"

namespace metaguard {
namespace {

// The phase is not repeated here: whoever reports the failure says where it stopped.
std::string failure_message(const std::vector<Finding>& findings) {
  std::vector<std::string> culprits;
  for (const auto& finding : findings) {
    if (finding.severity != Severity::Error || finding.repaired) continue;
    culprits.push_back(fmt::format("{} [{}]{}", finding.tensor.value_or("(model)"), finding.code,
                                   finding.rank ? fmt::format(" on rank {}", *finding.rank) : ""));
  }
  return fmt::format("{} error finding(s): {}", culprits.size(), fmt::join(culprits, ", "));
}

bool same_problem(const Finding& a, const Finding& b) { return a.code == b.code && a.tensor == b.tensor; }

}  // namespace

std::vector<Finding> merge_second_look(std::vector<Finding> first, const std::vector<Finding>& second) {
  for (auto& finding : first) {
    if (!finding.is_open_error()) continue;
    bool still = false;
    for (const auto& now : second) still = still || (now.is_open_error() && same_problem(finding, now));
    if (!still) finding.repaired = true;
  }
  const size_t known = first.size();
  for (const auto& now : second) {
    bool seen = false;
    for (size_t i = 0; i < known; ++i) seen = seen || same_problem(first[i], now);
    if (!seen) first.push_back(now);
  }
  return first;
}

GuardFailure::GuardFailure(std::string phase, std::vector<Finding> findings)
    : std::runtime_error(failure_message(findings)), phase_(std::move(phase)), findings_(std::move(findings)) {}

Guard::Guard(ModuleWalker& walker, TensorStateTracker& tracker, Ledger& ledger, GuardConfig config)
    : walker_(walker), tracker_(tracker), ledger_(ledger), config_(std::move(config)) {}

Inventory Guard::record(const std::string& phase, bool hash_contents) {
  SnapshotOptions options;
  options.hash_contents = hash_contents;
  options.threads = config_.repair.threads;
  Inventory inventory = walker_.snapshot(options);
  ledger_.record(phase, inventory);
  return inventory;
}

std::vector<Finding> Guard::check(const Inventory& inventory, const std::string& phase, DataNeeds needs,
                                  const GuardExtras& extras) const {
  CheckContext context(inventory, phase, config_.rank, needs);
  context.ledger = &ledger_;
  context.ranks = extras.ranks;
  context.not_replicas = extras.not_replicas;
  context.optimizer = extras.optimizer;
  context.target_device = extras.target_device;
  context.lora_run = config_.lora_run;
  std::vector<Finding> findings = run_checks(context);
  apply_allow_globs(findings, config_.allow);
  return findings;
}

std::vector<Finding> Guard::check_point(const std::string& phase, DataNeeds needs, const GuardExtras& extras) {
  if (config_.policy == GuardPolicy::Off) {
    record(phase, extras.hash_contents);
    return {};
  }
  SnapshotOptions options;
  options.verify_derived = needs.nonpersistent;
  options.hash_contents = extras.hash_contents;
  options.threads = config_.repair.threads;
  Inventory inventory = walker_.snapshot(options);
  ledger_.record(phase, inventory);
  std::vector<Finding> findings = check(ledger_.latest(), phase, needs, extras);

  auto has_errors = [](const std::vector<Finding>& list) {
    for (const auto& f : list) {
      if (f.severity == Severity::Error && !f.repaired) return true;
    }
    return false;
  };
  if (!has_errors(findings) || config_.policy == GuardPolicy::Warn) return findings;
  if (config_.policy == GuardPolicy::Fail) throw GuardFailure(phase, findings);

  // Repair, then look again: only what the second look no longer sees counts as repaired.
  auto actions = repair_findings(findings, walker_, tracker_, config_.repair, ledger_, config_.replicate);
  repair_log_.insert(repair_log_.end(), actions.begin(), actions.end());
  Inventory after = walker_.snapshot(options);
  ledger_.record(phase, after);
  GuardExtras second = extras;
  if (extras.ranks_before_repair) second.ranks = nullptr;
  findings = merge_second_look(std::move(findings), check(ledger_.latest(), phase, needs, second));
  for (auto& finding : findings) {
    if (finding.repaired || !finding.tensor) continue;
    for (const auto& action : actions) {
      if (action.tensor == *finding.tensor && !action.done) finding.message += fmt::format(" Not repaired: {}.", action.how);
    }
  }
  sort_findings(findings);
  if (has_errors(findings)) throw GuardFailure(phase, findings);
  return findings;
}

}  // namespace metaguard
