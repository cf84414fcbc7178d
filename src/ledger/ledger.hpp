#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/inventory.hpp"
#include "ledger/ledger_event.hpp"

namespace metaguard {

// Snapshots of one model's inventory at named phases (init, load, broadcast, ...). Diffing
// consecutive snapshots gives each tensor's provenance: created on meta, materialized,
// moved, replaced, untied... Events no diff can see (the bytes were loaded, received or
// recomputed) are told by whoever did it, through note().
class Ledger {
 public:
  // Diffs `snapshot` against the previous one, appends the events (and pending notes)
  // under `phase`, and keeps the snapshot as the latest.
  void record(const std::string& phase, Inventory snapshot);

  // An event seen by its actor, attached to the next record()'s phase.
  void note(const std::string& tensor, LedgerEvent event, const std::string& detail = "");

  bool empty() const { return phases_.empty(); }
  const Inventory& latest() const { return latest_; }
  const std::vector<std::string>& phases() const { return phases_; }
  const std::vector<ProvenanceEvent>& history(const std::string& tensor) const;
  // Whether `tensor`'s history holds `event` (e.g. replaced) at any phase.
  bool has_event(const std::string& tensor, LedgerEvent event) const;

  // Groups of names that shared one storage when first seen: what "tied" means here.
  const std::vector<std::vector<std::string>>& initial_ties() const { return initial_ties_; }

  // One clause a person can read: "created on meta at init; materialized at broadcast
  // without data; never loaded, received or recomputed".
  std::string cause(const TensorRecord& tensor) const;

  // Copies each tensor's history into the records' provenance (for a report).
  void annotate(std::vector<TensorRecord>& tensors) const;

 private:
  struct PendingNote {
    std::string tensor;
    LedgerEvent event;
    std::string detail;
  };

  void diff(const std::string& phase, const Inventory* previous, const Inventory& current);
  void add_event(const std::string& tensor, const std::string& phase, LedgerEvent event, const std::string& device,
                 std::string detail);

  // Only the latest snapshot is kept: each diff needs just its predecessor, and the first
  // snapshot's ties are kept apart. Memory stays one inventory per model, not per phase.
  Inventory latest_;
  std::vector<std::string> phases_;
  std::vector<PendingNote> pending_;
  std::unordered_map<std::string, std::vector<ProvenanceEvent>> history_;
  std::vector<std::vector<std::string>> initial_ties_;
};

}  // namespace metaguard
