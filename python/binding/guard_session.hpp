#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/phase.hpp"
#include "checks/check.hpp"
#include "core/report.hpp"
#include "ledger/ledger.hpp"
#include "python_module_walker.hpp"

namespace metaguard::python {

struct CheckRequest {
  PhaseInfo phase;
  std::optional<int> rank;
  std::vector<std::string> allow;  // globs of tensor names whose findings are accepted
  // With compare_ranks: every rank's inventory, indexed by rank (this rank's included).
  std::vector<Inventory> ranks;
  // The tensors an optimizer holds (label, identity, device), when one is given.
  std::optional<std::vector<OptimizerEntry>> optimizer;
};

// One Python module's checks across phases: its ledger (so a finding tells the tensor's
// history), the library's checks, and the report. One per root module.
class GuardSession {
 public:
  // Records the walk in the ledger under the request's phase and runs every check. With
  // other ranks' inventories, every rank's checks run here, so all ranks reach the same
  // findings (and stop together); only this rank's causes carry a history.
  Report check(PythonWalk walk, const CheckRequest& request);

  // Repair tells the ledger what it wrote; the next check records it.
  void note(const std::string& tensor, const std::string& event, const std::string& detail);

 private:
  Ledger ledger_;
};

// What other ranks need to compare against this one, as text for a collective.
std::string rank_digest(const Inventory& inventory);
Inventory inventory_from_digest(const std::string& digest, int rank);

// The report of a check, repair, check-again sequence: the first check's findings that
// the second no longer has are marked repaired; the second's new ones are added.
Report merge_after_repair(Report first, const Report& after);

}  // namespace metaguard::python
