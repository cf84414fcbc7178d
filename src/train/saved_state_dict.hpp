#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "load/storage_reader.hpp"

namespace metaguard {

// A state dict the trainer saved (RunCheckpoint; any torch.save zip works), its tensors read
// on demand: a sharded resume reads only its slices of the weights (program/slice_reader.hpp)
// and, on ranks other than 0, none of the replicated tensors.
class SavedStateDict {
 public:
  // Opens and lists `path`; InputError naming it when it cannot.
  explicit SavedStateDict(const std::string& path);

  const std::string& path() const { return path_; }
  const CheckpointFile& file() const { return file_; }
  // The entry named `name`, or null.
  const CheckpointTensor* find(const std::string& name) const;
  // The whole tensor as a CPU tensor (its storage read once, CRC-32 checked, and kept for
  // the other tensors that view it). InputError for a meta entry or an unknown dtype.
  torch::Tensor read(const CheckpointTensor& entry);
  // Every tensor, by name.
  std::unordered_map<std::string, torch::Tensor> read_all();

 private:
  std::string path_;
  CheckpointFile file_;
  StorageReader reader_;
  std::unordered_map<std::string, size_t> by_name_;
  std::vector<torch::Tensor> storages_;  // read so far, by storage index
};

}  // namespace metaguard
