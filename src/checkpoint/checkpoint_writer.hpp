#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace metaguard {

// One storage to write: raw little-endian element bytes (borrowed: they must stay alive
// during the write).
struct WriteStorage {
  std::string dtype;       // CONTRACT.md name
  std::string_view bytes;  // numel * element size bytes
  std::string location = "cpu";  // device tag torch.load restores it to
};

// One named tensor: a view of a storage, or a meta entry (no storage).
struct WriteTensor {
  std::string name;  // the state-dict key, e.g. "transformer.h.0.attn.weight"
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;  // in elements
  int64_t storage_offset = 0;   // in elements
  std::optional<size_t> storage;  // index into the storages; none writes a meta tensor
};

// A contiguous tensor viewing all of storage `storage`.
WriteTensor whole_storage_tensor(std::string name, std::string dtype, std::vector<int64_t> shape, size_t storage);

// Writes a checkpoint that PyTorch reads as torch.save's own (zip) format: the state dict
// is an OrderedDict of the tensors in the given order, pickled at protocol 2 the way
// torch.save 1.13 pickles tensors (torch._utils._rebuild_tensor_v2 over a persistent id
// ('storage', torch.<X>Storage, key, location, numel)), so that
// torch.load(path, weights_only=True) accepts it; tensors sharing a storage load sharing it.
// Records: archive/data.pkl, archive/data/<storage index>, archive/version, stored
// uncompressed by libzip with a fixed timestamp (equal inputs give equal files).
//
// Atomic: libzip writes a temporary file beside `path`, which is fsynced and renamed over
// `path`; a crash mid-write leaves the previous file intact. Throws InputError naming `path`
// for inconsistent input (unknown dtype, byte counts, a view outside its storage, repeated
// or non-UTF-8 names) or a write failure. Meta entries are written as
// torch._utils._rebuild_meta_tensor_no_storage calls, as torch.save does; note that
// PyTorch 1.13's weights_only loader refuses the bool, bfloat16 and uint8 dtype globals
// such entries use.
void write_torch_checkpoint(const std::string& path, const std::vector<WriteStorage>& storages,
                            const std::vector<WriteTensor>& tensors);

}  // namespace metaguard
