#pragma once
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/finding.hpp"
#include "core/inventory.hpp"
#include "core/optimizer_entry.hpp"
#include "ledger/ledger.hpp"

namespace metaguard {

// Which kinds of tensor must hold real values at a phase. At `init` of a meta build
// nothing must; after a broadcast, parameters and persistent buffers must; before a
// transfer, forward, validation or save, everything must.
struct DataNeeds {
  bool parameters = true;
  bool buffers = true;
  bool nonpersistent = true;

  static DataNeeds all() { return {true, true, true}; }
  static DataNeeds none() { return {false, false, false}; }
  static DataNeeds persistent() { return {true, true, false}; }
  bool needs(TensorKind kind) const {
    switch (kind) {
      case TensorKind::Parameter: return parameters;
      case TensorKind::Buffer: return buffers;
      case TensorKind::NonpersistentBuffer: return nonpersistent;
      case TensorKind::CheckpointEntry: return true;
    }
    return true;
  }
};

// Everything a check may read. Only `inventory` is required; checks that need more skip
// quietly when it is absent.
struct CheckContext {
  CheckContext(const Inventory& inventory_, std::string phase_ = "", std::optional<int> rank_ = std::nullopt,
               DataNeeds needs_ = DataNeeds::all())
      : inventory(inventory_), phase(std::move(phase_)), rank(rank_), needs(needs_) {}

  const Inventory& inventory;
  std::string phase;
  std::optional<int> rank;
  DataNeeds needs;
  const Ledger* ledger = nullptr;
  // Every rank's inventory at this phase, indexed by rank (cross-rank checks).
  const std::vector<const Inventory*>* ranks = nullptr;
  const std::set<std::string>* not_replicas = nullptr;  // left out of cross-rank comparisons
  const std::vector<OptimizerEntry>* optimizer = nullptr;
  std::optional<std::string> target_device;  // where the model is about to go
  bool lora_run = false;

  // "created on meta at init; ..." from the ledger, or a plain fallback.
  std::string cause(const TensorRecord& tensor) const;
  // " on rank 1 at before-validation"
  std::string where() const;
  Finding make(std::string code, Severity severity, const TensorRecord* tensor, std::string message,
               std::string hint) const;
};

// One finding code: reads the context, appends findings. Never prints, never throws on a
// model defect.
class Check {
 public:
  virtual ~Check() = default;
  virtual std::string_view code() const = 0;
  // How its findings are repaired; where there is no repair, why (shown with the finding).
  virtual RepairKind repair() const { return RepairKind::None; }
  virtual std::string_view no_repair_reason() const { return "no automatic repair for this finding"; }
  virtual void run(const CheckContext& context, std::vector<Finding>& out) const = 0;
};

}  // namespace metaguard
