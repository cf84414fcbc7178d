#include "train/saved_state_dict.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "walk/dtype_names.hpp"

namespace metaguard {

SavedStateDict::SavedStateDict(const std::string& path)
    : path_(path), file_(CheckpointFile::open(path)), reader_(file_), storages_(file_.storages().size()) {
  for (size_t i = 0; i < file_.tensors().size(); ++i) by_name_.emplace(file_.tensors()[i].name, i);
}

const CheckpointTensor* SavedStateDict::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &file_.tensors()[it->second];
}

torch::Tensor SavedStateDict::read(const CheckpointTensor& entry) {
  if (entry.is_meta()) throw InputError(fmt::format("'{}': '{}' is a meta entry with no data", path_, entry.name));
  const size_t index = *entry.storage;
  if (!storages_[index].defined()) {
    const CheckpointStorage& storage = file_.storages()[index];
    auto dtype = scalar_type_from_name(storage.dtype);
    if (!dtype) {
      throw InputError(fmt::format("'{}': '{}' has dtype {}, which this build cannot hold", path_, entry.name, storage.dtype));
    }
    torch::Tensor bytes = torch::empty({storage.numel}, torch::TensorOptions().dtype(*dtype));
    reader_.read(index, 0, static_cast<uint64_t>(storage.nbytes), static_cast<char*>(bytes.data_ptr()));
    storages_[index] = bytes;
  }
  return storages_[index].as_strided(entry.shape, entry.stride, entry.storage_offset);
}

std::unordered_map<std::string, torch::Tensor> SavedStateDict::read_all() {
  std::unordered_map<std::string, torch::Tensor> out;
  for (const auto& entry : file_.tensors()) out[entry.name] = read(entry);
  return out;
}

}  // namespace metaguard
