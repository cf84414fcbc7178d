#include "repair/repairer.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "repair/in_place.hpp"

namespace metaguard {
namespace {

bool is_meta_code(const std::string& code) {
  return code == "meta-parameter" || code == "meta-buffer" || code == "meta-nonpersistent-buffer" ||
         code == "missing-key";
}

std::string no_repair_reason(const std::string& code) {
  if (code == "rank-divergence") return "needs rank 0's values: re-broadcast (the trainer's repair does this)";
  if (code == "mixed-devices") return "moving tensors is the caller's decision: move the whole model to one device";
  if (code == "optimizer-stale-reference") return "rebuild the optimizer after materialization";
  if (code == "lora-trainability") return "trainability is a choice: call mark_only_lora_trainable()";
  return "no automatic repair for this finding";
}

// Another name of the tie group `name` belonged to when the ledger first saw it: the
// first one that was not itself replaced, so the re-tie points at the original tensor.
std::string tie_partner(const Ledger& ledger, const std::string& name) {
  for (const auto& group : ledger.initial_ties()) {
    if (std::find(group.begin(), group.end(), name) == group.end()) continue;
    std::string fallback;
    for (const auto& member : group) {
      if (member == name) continue;
      if (!ledger.has_event(member, "replaced")) return member;
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
    if (is_meta_code(finding.code)) {
      to_materialize.insert(name);
    } else if (finding.code == "uninitialized-storage" || finding.code == "stale-derived-buffer") {
      to_refill.insert(name);
    } else if (finding.code == "tied-weights-broken") {
      to_retie.emplace_back(name, tie_partner(ledger, name));
    } else if (finding.code == "rank-divergence" && replicate) {
      to_replicate.push_back(name);
    } else {
      actions.push_back({finding.code, name, false, no_repair_reason(finding.code)});
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
    ledger.note(name, "repaired", fmt::format("re-tied to {}", partner));
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
