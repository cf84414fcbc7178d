#pragma once
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_entry.hpp"
#include "core/finding.hpp"
#include "core/inventory.hpp"

namespace metaguard {

// Any checkpoint metaguard reads, recognised by its content (never its extension):
//   - a zip archive: torch.save's format (PyTorch >= 1.6), read by TorchCheckpoint;
//   - an 8-byte length then '{': safetensors, read by SafetensorsFile;
//   - PyTorch's legacy pickle or tar formats: refused with how to re-save the file;
//   - anything else, and empty files: refused.
// Opening reads metadata only; every problem is an InputError "'<path>': <what>".
//
// For a loader: contents().tensors gives each entry's dtype, shape, stride, storage offset
// and storage index; contents().storages gives each storage's zip record name, absolute
// byte offset in the file (when stored uncompressed), byte length and CRC-32. Read bytes
// either straight from the file at file_offset or through open_storage() (CRC-checked,
// inflates compressed records).
class CheckpointFile {
 public:
  static CheckpointFile open(const std::string& path);

  const std::string& path() const { return path_; }
  const CheckpointContents& contents() const { return source_->contents(); }
  const std::vector<CheckpointTensor>& tensors() const { return contents().tensors; }
  const std::vector<CheckpointStorage>& storages() const { return contents().storages; }
  std::unique_ptr<StorageStream> open_storage(size_t index) const { return source_->open_storage(index); }

  // One TensorRecord per entry, kind CheckpointEntry, in file order; entries that share a
  // storage share `storage` ids; requires_grad unknown (null).
  Inventory inventory() const;
  // One `meta-checkpoint-entry` error per meta entry.
  std::vector<Finding> meta_findings() const;

 private:
  CheckpointFile(std::string path, std::unique_ptr<CheckpointSource> source)
      : path_(std::move(path)), source_(std::move(source)) {}

  std::string path_;
  std::unique_ptr<CheckpointSource> source_;
};

}  // namespace metaguard
