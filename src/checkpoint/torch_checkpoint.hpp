#pragma once
#include <memory>
#include <string>

#include "checkpoint/checkpoint_entry.hpp"
#include "checkpoint/zip_archive.hpp"

namespace metaguard {

// A torch.save checkpoint (a zip archive: <archive>/data.pkl, <archive>/data/<key>, any
// archive folder name). Opening reads only the zip directory and data.pkl, through the
// allow-list unpickler; tensor data stays in the file until open_storage() is called.
// Checked on open: every storage a tensor uses has its record, the record holds at least
// numel * element size bytes, and every view (offset, shape, stride) fits in its storage.
class TorchCheckpoint : public CheckpointSource {
 public:
  // Largest data.pkl read (a 70B model's state dict pickles to well under 1 MiB).
  static constexpr uint64_t kMaxPickleBytes = 256ull << 20;

  explicit TorchCheckpoint(const std::string& path);

  const CheckpointContents& contents() const override { return contents_; }
  std::unique_ptr<StorageStream> open_storage(size_t index) const override;
  const ZipArchive& archive() const { return archive_; }

 private:
  ZipArchive archive_;
  CheckpointContents contents_;
  std::vector<const ZipRecord*> records_;  // per storage
};

}  // namespace metaguard
