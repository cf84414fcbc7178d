#include "program/sharded_tensors.hpp"

#include <algorithm>
#include <stdexcept>

#include <c10/core/DeviceGuard.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "repair/in_place.hpp"
#include "walk/tie_groups.hpp"

namespace metaguard {

std::string ShardedTensor::slice_text(int rank) const {
  return fmt::format(" (rank {}'s slice [{}, {}) of its {} elements{})", rank, slice.begin, slice.end, layout.numel(),
                     slice.empty() ? ", empty" : "");
}

ShardedTensors::ShardedTensors(ModuleWalker& walker, int rank, int world_size) : rank_(rank), world_size_(world_size) {
  walker.refresh();
  std::vector<LiveTensor*> frozen;
  for (auto& live : walker.tensors()) {
    if (live.kind == TensorKind::Parameter && live.tensor.defined() && !live.tensor.requires_grad()) frozen.push_back(&live);
  }
  for (const auto& members : tie_groups(frozen)) {
    const torch::Tensor& tensor = members.front()->tensor;
    ShardLayout layout(tensor.numel(), world_size);
    ShardedTensor sharded{{}, tensor, tensor.sizes().vec(), layout, layout.slice(rank), gather_unit(members.front()->name), {}, {}};
    for (const LiveTensor* member : members) sharded.names.push_back(member->name);
    const size_t index = tensors_.size();
    for (const auto& name : sharded.names) by_name_[name] = index;
    auto& unit = by_unit_[sharded.unit];
    if (unit.empty()) units_.push_back(sharded.unit);
    unit.push_back(index);
    tensors_.push_back(std::move(sharded));
  }
}

const ShardedTensor* ShardedTensors::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

ShardedTensor* ShardedTensors::find(const std::string& name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

namespace {

// A storage's bytes, freed and allocated again in place: the StorageImpl (and so every
// tensor and view that shares it) stays, only its memory comes and goes.
void free_bytes(const torch::Tensor& tensor) {
  c10::StorageImpl* storage = tensor.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(c10::DataPtr(nullptr, tensor.device()));
  storage->set_nbytes(0);
}

void allocate_bytes(const torch::Tensor& tensor) {
  const c10::DeviceGuard on_its_device(tensor.device());  // a GPU allocator uses the current device
  c10::StorageImpl* storage = tensor.storage().unsafeGetStorageImpl();
  const size_t bytes = static_cast<size_t>(tensor.numel()) * tensor.element_size();
  if (storage->nbytes() == bytes) return;
  storage->set_data_ptr_noswap(storage->allocator()->allocate(bytes));
  storage->set_nbytes(bytes);
}

}  // namespace

void ShardedTensors::rest(ShardedTensor& tensor) {
  swap_in_place(tensor.handle, tensor.local.narrow(0, 0, tensor.slice.size()));
}

void ShardedTensors::allocate(ShardedTensor& tensor, const torch::Device& device, c10::ScalarType dtype) {
  tensor.local = torch::empty({tensor.layout.per_rank()}, torch::TensorOptions().dtype(dtype).device(device));
  // The padding travels in every all-gather: zeros, so a gathered buffer is deterministic.
  tensor.local.narrow(0, tensor.slice.size(), tensor.layout.per_rank() - tensor.slice.size()).zero_();
  rest(tensor);
}

void ShardedTensors::keep_slice(ShardedTensor& tensor, const torch::Tensor& full, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  // `full` may be the handle itself (a repair made it whole): hold its storage through the swap.
  const torch::Tensor values = full.detach().reshape({-1});
  allocate(tensor, device, values.scalar_type());
  tensor.local.narrow(0, 0, tensor.slice.size()).copy_(values.narrow(0, tensor.slice.begin, tensor.slice.size()));
}

void ShardedTensors::settle(const torch::Device& device) {
  for (auto& tensor : tensors_) {
    const torch::Tensor& handle = tensor.handle;
    if (handle.is_meta()) continue;  // no data: the guard names it
    const bool at_rest = tensor.local.defined() && handle.numel() == tensor.slice.size() &&
                         (handle.numel() == 0 || handle.data_ptr() == tensor.local.data_ptr());
    if (!at_rest && handle.numel() == tensor.layout.numel()) keep_slice(tensor, handle, device);
  }
}

const std::vector<size_t>& ShardedTensors::members(const std::string& unit) const {
  static const std::vector<size_t> kNone;
  auto it = by_unit_.find(unit);
  return it == by_unit_.end() ? kNone : it->second;
}

void ShardedTensors::gather(const std::string& unit, SliceGatherer& gatherer) {
  torch::NoGradGuard no_grad;
  for (size_t index : members(unit)) {
    ShardedTensor& tensor = tensors_[index];
    if (!tensor.local.defined()) {
      // The guard before the first forward stops a run whose weights are missing on a rank.
      throw std::logic_error(fmt::format("ShardedTensors::gather: {} holds no data on rank {}", tensor.name(), rank_));
    }
    const int64_t per_rank = tensor.layout.per_rank();
    if (!tensor.full.defined() || tensor.full.scalar_type() != tensor.local.scalar_type() ||
        tensor.full.device() != tensor.local.device()) {
      tensor.full = torch::empty({tensor.layout.padded_numel()}, tensor.local.options());
    } else {
      allocate_bytes(tensor.full);
    }
    const int64_t piece = std::max<int64_t>(1, kGatherPieceBytes / static_cast<int64_t>(tensor.local.element_size()));
    std::vector<torch::Tensor> outputs(world_size_);
    for (int64_t first = 0; first < per_rank; first += piece) {
      const int64_t size = std::min(piece, per_rank - first);
      for (int r = 0; r < world_size_; ++r) outputs[r] = tensor.full.narrow(0, r * per_rank + first, size);
      gatherer.all_gather(tensor.local.narrow(0, first, size), outputs, fmt::format("all-gather {}", tensor.name()));
    }
    swap_in_place(tensor.handle, tensor.full.narrow(0, 0, tensor.layout.numel()).view(tensor.shape));
  }
}

void ShardedTensors::release(const std::string& unit) {
  for (size_t index : members(unit)) {
    ShardedTensor& tensor = tensors_[index];
    if (!tensor.local.defined()) continue;
    rest(tensor);
    if (tensor.full.defined()) free_bytes(tensor.full);
  }
}

ShardRow ShardedTensors::row() const {
  ShardRow row;
  row.rank = rank_;
  for (const auto& tensor : tensors_) {
    ++row.tensors;
    row.elements += tensor.slice.size();
    row.bytes += tensor.layout.per_rank() * static_cast<int64_t>(tensor.handle.element_size());
    if (tensor.slice.empty()) row.empty.push_back(tensor.name());
  }
  return row;
}

}  // namespace metaguard
