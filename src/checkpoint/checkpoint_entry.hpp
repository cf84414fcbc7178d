#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// What a checkpoint holds, as plain data, the same for every format. This is also the API a
// loader builds on: for every non-meta tensor, `storage` names a CheckpointStorage whose
// bytes start at `file_offset` in the file (when stored uncompressed); the tensor's element
// (i0, i1, ...) is at storage element storage_offset + sum(ik * stride[k]), each element
// `element_size(dtype)` bytes, little-endian. So a loader can read the storage's `nbytes`
// bytes straight into a tensor's memory and set sizes, strides and offset on it.
namespace metaguard {

// One run of bytes in the file that one or more tensors view (shared storages: tied
// weights, views). torch.save: one zip record `<archive>/data/<key>`; safetensors: one
// tensor's byte range.
struct CheckpointStorage {
  std::string key;       // torch: the pickle's storage key ("0"); safetensors: the tensor's name
  std::string record;    // torch: the zip record ("archive/data/0"); safetensors: empty
  std::string dtype;     // CONTRACT.md name of the elements
  int64_t numel = 0;     // elements, as the file declares them
  int64_t nbytes = 0;    // numel * element size: the bytes a loader reads
  std::string location;  // device as saved: "cpu", "cuda:0"
  // Absolute offset of the storage's first byte in the file when the bytes lie there as is;
  // std::nullopt for a deflated zip record (read it through CheckpointFile::open_storage).
  std::optional<uint64_t> file_offset;
  uint64_t stored_size = 0;  // bytes the record holds (always >= nbytes; checked on open)
  bool compressed = false;
  std::optional<uint32_t> crc32;  // zip records: checked whenever the data is read
};

// One named tensor (a flattened checkpoint key).
struct CheckpointTensor {
  std::string name;  // keys of nested containers joined with '.'
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;  // in elements
  int64_t storage_offset = 0;   // in elements
  std::optional<size_t> storage;  // index into CheckpointFile::storages(); none for meta
  std::string device;             // "meta" for a meta entry, else its storage's location
  int64_t numel = 0;
  bool contiguous = true;
  bool parameter = false;      // pickled as an nn.Parameter
  bool requires_grad = false;  // as pickled (state dicts save false)

  bool is_meta() const { return !storage.has_value(); }
};

// Sequential reader of one storage's bytes (see CheckpointFile::open_storage).
class StorageStream {
 public:
  virtual ~StorageStream() = default;
  // Reads up to `size` bytes into `buffer`; returns how many, 0 at the end of the storage.
  // Throws InputError naming the file when the bytes are unreadable or fail their CRC-32.
  virtual size_t read(char* buffer, size_t size) = 0;
};

// Everything a checkpoint file says, without its tensor data.
struct CheckpointContents {
  std::string format;  // "torch-zip" or "safetensors"
  std::vector<CheckpointTensor> tensors;    // in file order
  std::vector<CheckpointStorage> storages;  // in order of first use
  // Values that are not tensors (step counters, hyper-parameters, safetensors' __metadata__),
  // by flattened key.
  nlohmann::json metadata = nlohmann::json::object();
  int pickle_protocol = 0;  // torch-zip only
};

// A parsed checkpoint of any format: its contents and a way to read its storages.
class CheckpointSource {
 public:
  virtual ~CheckpointSource() = default;
  virtual const CheckpointContents& contents() const = 0;
  // Streams storage `index`'s stored bytes (CRC-checked for zip records). The stream must
  // not outlive this source.
  virtual std::unique_ptr<StorageStream> open_storage(size_t index) const = 0;
};

}  // namespace metaguard
