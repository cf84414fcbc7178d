#include "repair/repairer.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "checks/registry.hpp"
#include "repair/in_place.hpp"

namespace metaguard {
namespace {

// Why a finding of `code` has no automatic repair: its check says (the loader's findings
// other than missing-key have none either: the file disagrees with the model).
std::string no_repair_reason(const std::string& code) {
  const Check* check = find_check(code);
  return std::string(check ? check->no_repair_reason() : "no automatic repair for this finding");
}

// Another name of the tie group `name` belonged to when the ledger first saw it: the
// first one that was not itself replaced, so the re-tie points at the original tensor.
std::string tie_partner(const Ledger& ledger, const std::string& name) {
  for (const auto& group : ledger.initial_ties()) {
    if (std::find(group.begin(), group.end(), name) == group.end()) continue;
    std::string fallback;
    for (const auto& member : group) {
      if (member == name) continue;
      if (!ledger.has_event(member, LedgerEvent::Replaced)) return member;
      if (fallback.empty()) fallback = member;
    }
    return fallback;
  }
  return "";
}

}  // namespace

std::vector<RepairAction> repair_findings(const std::vector<Finding>& findings, ModuleWalker& walker,
                                          TensorStateTracker& tracker, const MaterializeOptions& options,
                                          Ledger& ledger, const ReplicateFromRank0& replicate) {
  std::vector<RepairAction> actions;
  std::set<std::string> to_materialize, to_refill;
  std::vector<std::pair<std::string, std::string>> to_retie;  // (tensor, partner)
  std::vector<std::string> to_replicate;
  for (const auto& finding : findings) {
    if (finding.severity != Severity::Error || !finding.tensor) continue;
    const std::string& name = *finding.tensor;
    switch (finding.repair) {
      case RepairKind::Materialize: to_materialize.insert(name); break;
      case RepairKind::Refill: to_refill.insert(name); break;
      case RepairKind::Retie: to_retie.emplace_back(name, tie_partner(ledger, name)); break;
      case RepairKind::Rebroadcast:
        if (replicate) {
          to_replicate.push_back(name);
        } else {
          actions.push_back({finding.code, name, false, "needs rank 0's values: re-broadcast (the trainer's repair does this)"});
        }
        break;
      case RepairKind::None: actions.push_back({finding.code, name, false, no_repair_reason(finding.code)}); break;
    }
  }

  // Re-tie first, so a later materialization fills the shared storage once.
  walker.refresh();
  for (const auto& [name, partner] : to_retie) {
    LiveTensor* live = walker.find(name);
    LiveTensor* source = partner.empty() ? nullptr : walker.find(partner);
    if (!live || !source) {
      actions.push_back({"tied-weights-broken", name, false, "its tie partner is gone"});
      continue;
    }
    // The storage is shared again; gradients still accumulate per tensor object, which
    // matters only if both names train (not the case for LoRA's frozen base weights).
    swap_in_place(live->tensor, source->tensor);
    ledger.note(name, LedgerEvent::Repaired, fmt::format("re-tied to {}", partner));
    actions.push_back({"tied-weights-broken", name, true, fmt::format("re-tied to {}", partner)});
  }

  if (!to_replicate.empty()) {
    std::vector<std::string> done = replicate(to_replicate);
    std::set<std::string> replicated(done.begin(), done.end());
    for (const auto& name : to_replicate) {
      bool ok = replicated.count(name) > 0;
      actions.push_back({"rank-divergence", name, ok, ok ? "re-broadcast from rank 0" : "rank 0 has no value to send"});
    }
  }

  if (!to_materialize.empty()) {
    MaterializeOptions selected = options;
    // Only the named tensors, and of those only what the caller allows (offloaded ones stay).
    selected.select = [&to_materialize, allowed = options.select](const LiveTensor& live) {
      return to_materialize.count(live.name) > 0 && (!allowed || allowed(live));
    };
    MaterializeResult result = materialize(walker, tracker, selected, &ledger);
    for (const auto& name : result.materialized) actions.push_back({"meta", name, true, "materialized in place"});
    for (const auto& [name, why] : result.skipped) actions.push_back({"meta", name, false, why});
  }
  if (!to_refill.empty()) {
    MaterializeResult result =
        refill(walker, tracker, std::vector<std::string>(to_refill.begin(), to_refill.end()), options, &ledger);
    for (const auto& name : result.materialized) actions.push_back({"refill", name, true, "written from its source"});
    for (const auto& [name, why] : result.skipped) actions.push_back({"refill", name, false, why});
  }
  return actions;
}

}  // namespace metaguard
