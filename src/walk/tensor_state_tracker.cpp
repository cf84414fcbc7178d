#include "walk/tensor_state_tracker.hpp"

namespace metaguard {

void TensorStateTracker::mark_allocated(const torch::Tensor& tensor, const std::string& device) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry entry{c10::weak_intrusive_ptr<c10::TensorImpl>(tensor.getIntrusivePtr()), {}};
  entry.state.device = device;
  entry.state.version_at_allocation = dry_run_ ? 0 : tensor._version();
  entries_.insert_or_assign(tensor.unsafeGetTensorImpl(), std::move(entry));
}

void TensorStateTracker::mark_written(const torch::Tensor& tensor, LedgerEvent by, uint64_t content_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(tensor.unsafeGetTensorImpl());
  if (it == entries_.end() || it->second.owner.expired()) {
    Entry entry{c10::weak_intrusive_ptr<c10::TensorImpl>(tensor.getIntrusivePtr()), {}};
    entry.state.device = tensor.device().str();
    it = entries_.insert_or_assign(tensor.unsafeGetTensorImpl(), std::move(entry)).first;
  }
  it->second.state.written = true;
  it->second.state.written_by = by;
  it->second.state.content_key = content_key;
}

void TensorStateTracker::forget(const torch::Tensor& tensor) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(tensor.unsafeGetTensorImpl());
}

std::optional<TensorStateTracker::State> TensorStateTracker::state_of(const torch::Tensor& tensor) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(tensor.unsafeGetTensorImpl());
  if (it == entries_.end() || it->second.owner.expired()) return std::nullopt;
  return it->second.state;
}

bool TensorStateTracker::is_unwritten(const torch::Tensor& tensor) const {
  return is_unwritten(tensor, state_of(tensor));
}

bool TensorStateTracker::is_unwritten(const torch::Tensor& tensor, const std::optional<State>& state) const {
  if (!state || state->written) return false;
  if (dry_run_) return true;
  return tensor._version() == state->version_at_allocation;
}

}  // namespace metaguard
