#include "ledger/ledger.hpp"

#include <unordered_set>

#include <fmt/format.h>

namespace metaguard {
namespace {

const std::vector<ProvenanceEvent> kNoHistory;

bool has_event(const std::vector<ProvenanceEvent>& events, LedgerEvent wanted) {
  const std::string_view name = to_string(wanted);
  for (const auto& event : events) {
    if (event.event == name) return true;
  }
  return false;
}

}  // namespace

void Ledger::note(const std::string& tensor, LedgerEvent event, const std::string& detail) {
  pending_.push_back({tensor, event, detail});
}

void Ledger::add_event(const std::string& tensor, const std::string& phase, LedgerEvent event, const std::string& device,
                       std::string detail) {
  history_[tensor].push_back({phase, std::string(to_string(event)), device, std::move(detail)});
}

void Ledger::record(const std::string& phase, Inventory snapshot) {
  const Inventory* previous = phases_.empty() ? nullptr : &latest_;
  if (!previous) initial_ties_ = snapshot.shared_storage_groups();
  diff(phase, previous, snapshot);
  for (auto& note : pending_) {
    const TensorRecord* record = snapshot.find(note.tensor);
    add_event(note.tensor, phase, note.event, record ? record->device : "", note.detail);
  }
  pending_.clear();
  phases_.push_back(phase);
  latest_ = std::move(snapshot);
}

void Ledger::diff(const std::string& phase, const Inventory* previous, const Inventory& current) {
  std::unordered_set<std::string> noted;
  for (const auto& note : pending_) noted.insert(note.tensor);

  const auto& now = current.tensors();
  for (size_t i = 0; i < now.size(); ++i) {
    const TensorRecord& cur = now[i];
    const TensorRecord* prev = nullptr;
    if (previous) {
      // Walks of one model list names in the same order: try the same position first.
      const auto& before = previous->tensors();
      prev = i < before.size() && before[i].name == cur.name ? &before[i] : previous->find(cur.name);
    }
    if (!prev) {
      add_event(cur.name, phase, LedgerEvent::Created, cur.device, cur.uninitialized ? "storage not written" : "");
      continue;
    }
    if (prev->tensor_key != 0 && cur.tensor_key != 0 && prev->tensor_key != cur.tensor_key) {
      add_event(cur.name, phase, LedgerEvent::Replaced, cur.device, "a new tensor object took its place");
    }
    if (prev->is_meta() && !cur.is_meta()) {
      add_event(cur.name, phase, cur.uninitialized ? LedgerEvent::MaterializedEmpty : LedgerEvent::Materialized,
                cur.device, cur.uninitialized ? "storage allocated, not written" : "");
    } else if (!prev->is_meta() && cur.is_meta()) {
      add_event(cur.name, phase, LedgerEvent::ResetToMeta, cur.device, "");
    } else if (!cur.is_meta() && prev->device != cur.device) {
      add_event(cur.name, phase, LedgerEvent::Moved, cur.device, fmt::format("from {}", prev->device));
    }
    if (prev->uninitialized && !cur.uninitialized && !cur.is_meta() && noted.count(cur.name) == 0) {
      add_event(cur.name, phase, LedgerEvent::Written, cur.device, "");
    }
  }

  if (!previous) return;
  // Untied: names that shared a storage before and no longer do.
  for (const auto& group : previous->shared_storage_groups()) {
    const TensorRecord* first = current.find(group.front());
    if (!first) continue;
    for (size_t k = 1; k < group.size(); ++k) {
      const TensorRecord* other = current.find(group[k]);
      if (other && other->storage_key != first->storage_key) {
        add_event(other->name, phase, LedgerEvent::Untied, other->device,
                  fmt::format("no longer shares storage with {}", first->name));
      }
    }
  }
  for (const auto& before : previous->tensors()) {
    if (!current.find(before.name)) add_event(before.name, phase, LedgerEvent::Removed, "", "");
  }
}

const std::vector<ProvenanceEvent>& Ledger::history(const std::string& tensor) const {
  auto it = history_.find(tensor);
  return it == history_.end() ? kNoHistory : it->second;
}

bool Ledger::has_event(const std::string& tensor, LedgerEvent event) const {
  return metaguard::has_event(history(tensor), event);
}

std::string Ledger::cause(const TensorRecord& tensor) const {
  const auto& events = history(tensor.name);
  std::vector<std::string> clauses;
  for (const auto& event : events) {
    std::string clause = event.event == to_string(LedgerEvent::Created) ? fmt::format("created on {} at {}", event.device, event.phase)
                                                  : fmt::format("{} at {}", event.event, event.phase);
    if (!event.detail.empty()) clause += fmt::format(" ({})", event.detail);
    clauses.push_back(std::move(clause));
  }
  bool written = false;
  for (const auto& event : events) written = written || writes_data(event.event);
  if (!written && (tensor.is_meta() || tensor.uninitialized)) {
    if (tensor.kind == TensorKind::NonpersistentBuffer) {
      clauses.push_back(tensor.derived ? "never recomputed (non-persistent and derived: no checkpoint or broadcast carries it)"
                                       : "never written (non-persistent: no checkpoint or broadcast carries it)");
    } else {
      clauses.push_back("never initialized, loaded or received");
    }
  } else if (tensor.derived && !metaguard::has_event(events, LedgerEvent::Recomputed) && tensor.is_meta()) {
    clauses.push_back("never recomputed");
  }
  if (clauses.empty()) return "no recorded history";
  return fmt::format("{}", fmt::join(clauses, "; "));
}

void Ledger::annotate(std::vector<TensorRecord>& tensors) const {
  for (auto& tensor : tensors) tensor.provenance = history(tensor.name);
}

}  // namespace metaguard
