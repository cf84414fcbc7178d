#pragma once
#include <optional>
#include <string>

#include "core/tensor_record.hpp"

namespace metaguard {

// What else the report says that changes how a tensor's history reads.
struct HistoryContext {
  std::optional<int> rank;          // the rank whose ledger recorded the history
  bool checkpoint_loaded = false;   // some tensor of that report was loaded from a checkpoint
  bool broadcast_seen = false;      // some tensor of that report was received by broadcast
  bool missing_from_checkpoint = false;  // a missing-key finding names this tensor
};

// A tensor's provenance in plain words, e.g. "created on meta at init; not in any checkpoint
// or broadcast (non-persistent buffer); never materialized or recomputed". Events read in
// order; when the tensor ends without values (meta or uninitialized), the steps that would
// have given it values and never happened follow.
std::string tensor_history(const TensorRecord& tensor, const HistoryContext& context);

// One provenance event in words: "loaded from the checkpoint at load".
std::string describe_event(const ProvenanceEvent& event);

}  // namespace metaguard
