#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/finding.hpp"
#include "repair/materializer.hpp"

namespace metaguard {

// What repair did about one finding.
struct RepairAction {
  std::string code;
  std::string tensor;
  bool done = false;
  std::string how;  // "initialized from its recipe", or why it could not be repaired
};

// Repairs what the findings name, in place: meta tensors are materialized (tied ones
// once), uninitialized ones filled, stale derived ones recomputed, broken ties re-tied
// (storage shared again). Findings with no correct repair (a missing checkpoint key
// without a recipe, rank divergence without a source, mixed devices) are left with the
// reason. The caller re-checks: a finding counts as repaired only if it is gone.
// Copies rank 0's values of the named tensors into this rank's (a re-broadcast); returns
// the names it could replicate. Only multi-rank runs have one.
using ReplicateFromRank0 = std::function<std::vector<std::string>(const std::vector<std::string>& names)>;

std::vector<RepairAction> repair_findings(const std::vector<Finding>& findings, ModuleWalker& walker,
                                          TensorStateTracker& tracker, const MaterializeOptions& options,
                                          Ledger& ledger, const ReplicateFromRank0& replicate = {});

}  // namespace metaguard
