#pragma once
#include <optional>
#include <string_view>

namespace metaguard {

// Every event a tensor's history can hold. The ledger sees some by diffing snapshots
// (created, materialized, moved, replaced...); whoever fills a tensor tells the others
// (loaded, received, recomputed...), and the state tracker keeps the last filler with the
// same names. The table (ledger_event.cpp) gives each its one name (reports' provenance),
// whether it means "the bytes now hold real values", and its phrase for `explain`.
enum class LedgerEvent {
  Created,
  Materialized,
  MaterializedEmpty,
  ResetToMeta,
  Moved,
  Replaced,
  Untied,
  Removed,
  Written,
  Initialized,
  Loaded,
  NotLoaded,
  Received,
  ReceivedUnwritten,
  NotReceived,  // a broadcast ran, but rank 0 had no data for it (still on meta there)
  Recomputed,
  Repaired,
  Offloaded,
};

std::string_view to_string(LedgerEvent event);
std::optional<LedgerEvent> parse_ledger_event(std::string_view name);
// Whether the event named `name` means the tensor's bytes now hold real values.
bool writes_data(std::string_view name);
// explain's phrase: "received by broadcast"; the device is appended where the phrase ends
// with "on" or "to" ("created on cpu"). Empty where explain has none (it names the event).
std::string_view phrase(LedgerEvent event);
bool phrase_names_device(LedgerEvent event);

}  // namespace metaguard
