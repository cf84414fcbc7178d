#include "ledger/ledger_event.hpp"

namespace metaguard {
namespace {

struct EventInfo {
  LedgerEvent event;
  std::string_view name;
  bool writes;             // the bytes now hold real values
  std::string_view phrase;  // for explain; empty: the name is used
  bool names_device;       // the phrase is followed by the tensor's device
};

constexpr EventInfo kEvents[] = {
    {LedgerEvent::Created, "created", false, "created on", true},
    {LedgerEvent::Materialized, "materialized", false, "materialized on", true},
    {LedgerEvent::MaterializedEmpty, "materialized-empty", false, "given uninitialized storage on", true},
    {LedgerEvent::ResetToMeta, "reset-to-meta", false, "", false},
    {LedgerEvent::Moved, "moved", false, "moved to", true},
    {LedgerEvent::Replaced, "replaced", false, "replaced by a different tensor object", false},
    {LedgerEvent::Untied, "untied", false, "untied from the storage it shared", false},
    {LedgerEvent::Removed, "removed", false, "", false},
    {LedgerEvent::Written, "written", true, "", false},
    {LedgerEvent::Initialized, "initialized", true, "initialized", false},
    {LedgerEvent::Loaded, "loaded", true, "loaded from the checkpoint", false},
    {LedgerEvent::NotLoaded, "not-loaded", false, "", false},
    {LedgerEvent::Received, "received", true, "received by broadcast", false},
    {LedgerEvent::ReceivedUnwritten, "received-unwritten", false, "", false},
    {LedgerEvent::NotReceived, "not-received", false, "not received: rank 0 broadcast from meta, with no data to send", false},
    {LedgerEvent::Recomputed, "recomputed", true, "recomputed", false},
    {LedgerEvent::Repaired, "repaired", true, "repaired on", true},
    {LedgerEvent::Offloaded, "offloaded", false, "", false},
};

const EventInfo& info(LedgerEvent event) {
  for (const auto& row : kEvents) {
    if (row.event == event) return row;
  }
  return kEvents[0];  // unreachable: every event has a row
}

}  // namespace

std::string_view to_string(LedgerEvent event) { return info(event).name; }

std::optional<LedgerEvent> parse_ledger_event(std::string_view name) {
  for (const auto& row : kEvents) {
    if (row.name == name) return row.event;
  }
  return std::nullopt;
}

bool writes_data(std::string_view name) {
  auto event = parse_ledger_event(name);
  return event && info(*event).writes;
}

std::string_view phrase(LedgerEvent event) { return info(event).phrase; }
bool phrase_names_device(LedgerEvent event) { return info(event).names_device; }

}  // namespace metaguard
