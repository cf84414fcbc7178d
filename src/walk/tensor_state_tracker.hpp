#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <torch/types.h>

#include "ledger/ledger_event.hpp"

namespace metaguard {

// What metaguard knows about a tensor that the tensor cannot say itself.
//
// Real mode: materialization hands out storage without writing it (to_empty); the tracker
// remembers the tensor's write counter at that moment, so "never written since" is
// observable later (any in-place op bumps the counter; writers that bypass it, such as a
// collective or a file read into data_ptr(), call mark_written).
//
// Dry-run mode (preflight): tensors stay on meta and the tracker holds where each would
// be and whether and with what it would have been written. The content key stands in for
// a content hash: equal keys mean equal values (same recipe, seed and name, or the same
// source broadcast).
class TensorStateTracker {
 public:
  struct State {
    std::string device;          // where the tensor is (dry run: would be)
    bool written = false;
    uint64_t content_key = 0;    // dry run: identity of the values; 0: unknown
    uint32_t version_at_allocation = 0;
    LedgerEvent written_by = LedgerEvent::Initialized;  // who wrote it last: initialized, loaded, received...
  };

  explicit TensorStateTracker(bool dry_run = false) : dry_run_(dry_run) {}

  bool dry_run() const { return dry_run_; }

  void mark_allocated(const torch::Tensor& tensor, const std::string& device);
  void mark_written(const torch::Tensor& tensor, LedgerEvent by, uint64_t content_key = 0);
  void forget(const torch::Tensor& tensor);

  std::optional<State> state_of(const torch::Tensor& tensor) const;
  // Real mode: allocated by materialization and not written since.
  bool is_unwritten(const torch::Tensor& tensor) const;
  // The same from a state_of(tensor) the caller already holds (one lookup, not two).
  bool is_unwritten(const torch::Tensor& tensor, const std::optional<State>& state) const;

 private:
  struct Entry {
    c10::weak_intrusive_ptr<c10::TensorImpl> owner;  // detects a freed-and-reused address
    State state;
  };

  bool dry_run_;
  mutable std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, Entry> entries_;
};

}  // namespace metaguard
