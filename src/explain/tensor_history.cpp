#include "explain/tensor_history.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "ledger/ledger_event.hpp"

namespace metaguard {
namespace {

bool happened(const TensorRecord& tensor, LedgerEvent event) {
  const std::string_view name = to_string(event);
  return std::any_of(tensor.provenance.begin(), tensor.provenance.end(),
                     [&](const ProvenanceEvent& e) { return e.event == name; });
}

// "a", "a or b", "a, b or c"
std::string either(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

}  // namespace

std::string describe_event(const ProvenanceEvent& e) {
  std::string at = e.phase.empty() ? "" : " at " + e.phase;
  const auto event = parse_ledger_event(e.event);
  std::string text;
  if (event && !phrase(*event).empty()) {
    text = std::string(phrase(*event)) + (phrase_names_device(*event) ? " " + e.device : "") + at;
  } else {
    text = fmt::format("{}{} (on {})", e.event, at, e.device);
  }
  if (!e.detail.empty()) text += " (" + e.detail + ")";
  return text;
}

std::string tensor_history(const TensorRecord& tensor, const HistoryContext& context) {
  std::vector<std::string> clauses;
  for (const auto& event : tensor.provenance) clauses.push_back(describe_event(event));
  if (tensor.provenance.empty()) clauses.push_back(fmt::format("no provenance recorded; now on {}", tensor.device));

  if (!tensor.has_data()) {
    std::vector<std::string> never;
    bool materialized = happened(tensor, LedgerEvent::Materialized) || happened(tensor, LedgerEvent::MaterializedEmpty);
    if (tensor.is_meta() && !materialized && tensor.kind != TensorKind::CheckpointEntry) {
      never.push_back("materialized");
    }
    if (tensor.kind == TensorKind::CheckpointEntry) {
      if (tensor.is_meta()) clauses.push_back("stored in the checkpoint without values");
    } else if (tensor.kind == TensorKind::NonpersistentBuffer || tensor.derived) {
      if (tensor.kind == TensorKind::NonpersistentBuffer) {
        clauses.push_back("not in any checkpoint or broadcast (non-persistent buffer)");
      }
      if (!happened(tensor, LedgerEvent::Recomputed)) never.push_back("recomputed");
    } else {
      if (context.missing_from_checkpoint) clauses.push_back("not in the checkpoint (missing key)");
      bool loaded = happened(tensor, LedgerEvent::Loaded);
      bool received = happened(tensor, LedgerEvent::Received);
      if (context.checkpoint_loaded && !context.missing_from_checkpoint && !loaded) {
        never.push_back("loaded from the checkpoint");
      }
      bool expects_broadcast = context.broadcast_seen || (context.rank && *context.rank > 0);
      if (expects_broadcast && !received) never.push_back("received by broadcast");
      if (!happened(tensor, LedgerEvent::Initialized) && !loaded && !received) never.push_back("initialized");
    }
    if (!never.empty()) clauses.push_back("never " + either(never));
    if (!tensor.provenance.empty() && tensor.uninitialized && !tensor.is_meta()) {
      clauses.push_back("its values are whatever the memory held");
    }
  }
  std::string out;
  for (const auto& clause : clauses) out += (out.empty() ? "" : "; ") + clause;
  return out;
}

}  // namespace metaguard
