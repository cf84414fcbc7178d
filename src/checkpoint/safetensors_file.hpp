#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/checkpoint_entry.hpp"

namespace metaguard {

// A safetensors file: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "text"}}), then the tensors' bytes. Opening parses the header with
// nlohmann-json and checks, before anything is used: N against the file size (and 100 MB,
// the format's own limit), every dtype, shape and offset pair, that each tensor's byte range
// equals numel * element size, and that the ranges tile the data section exactly (no
// overlap, no gap, nothing left over), as the reference implementation requires. Tensors are
// listed in data order; each has its own storage, whose file_offset is absolute.
class SafetensorsFile : public CheckpointSource {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile() override;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const CheckpointContents& contents() const override { return contents_; }
  std::unique_ptr<StorageStream> open_storage(size_t index) const override;

 private:
  std::string path_;
  int fd_ = -1;
  CheckpointContents contents_;
};

// One tensor to write: its bytes must be numel * element size, row-major, little-endian.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // CONTRACT.md name; complex128 has no safetensors code and is refused
  std::vector<int64_t> shape;
  std::string_view bytes;
};

// Writes a safetensors file atomically (temporary file, fsync, rename): a crash leaves the
// previous file intact. Tensors go in the given order; the header is padded with spaces to a
// multiple of 8 bytes. Throws InputError naming `path` for a bad entry or a write failure.
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace metaguard
