#pragma once
#include <cstddef>
#include <cstdint>

#include "checkpoint/checkpoint_reader.hpp"

namespace metaguard {

// Reads byte ranges of a checkpoint's storages straight into the caller's memory (a
// tensor's final storage): one pread per chunk from the record's absolute offset, no
// intermediate buffer. A zip record's CRC-32 is checked over the whole record as it is
// read (bytes outside the range pass through a small scratch buffer), so a corrupt file
// is refused before its values are used. PyTorch 1.13 checks no CRC at all.
//
// Stored records (every torch.save and safetensors file) may be read from several threads
// at once; deflated records stream through libzip, which is single-threaded: read those
// from one thread.
class StorageReader {
 public:
  // Opens the file; throws InputError naming it when it cannot.
  explicit StorageReader(const CheckpointFile& file);
  ~StorageReader();
  StorageReader(const StorageReader&) = delete;
  StorageReader& operator=(const StorageReader&) = delete;

  // Copies bytes [begin, end) of storage `index` (offsets within the storage) into
  // `destination`. Throws InputError "'<file>': ..." when the file is shorter than it says
  // or a record fails its CRC-32; `destination` may then hold part of the bytes.
  void read(size_t index, uint64_t begin, uint64_t end, char* destination) const;

  // The same for one rank's part of a record under --strategy shard: only [begin, end) is
  // read (the point of sharding the load), so the record's CRC-32, which covers every
  // rank's part, is not checked here. Deflated records are still read whole (and checked).
  void read_part(size_t index, uint64_t begin, uint64_t end, char* destination) const;

  // True when storage `index` lies in the file as is (pread-able, thread-safe).
  bool direct(size_t index) const;

 private:
  void read_direct(size_t index, uint64_t begin, uint64_t end, char* destination, bool whole_record) const;
  void read_streamed(size_t index, uint64_t begin, uint64_t end, char* destination) const;

  const CheckpointFile& file_;
  int fd_ = -1;
};

}  // namespace metaguard
