#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

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

  // One rank's part of a record under --strategy shard: [begin, end) lands in
  // `destination`, and only the bytes of [span_begin, span_end), which hold it, are read
  // (the point of sharding the load). The record's CRC-32 covers every rank's part, so it
  // cannot be checked here: returned is the CRC-32 of the span, which the ranks combine
  // (program/slice_reader.hpp; their spans tile the record). nullopt when there is nothing
  // to combine: a record without a CRC (safetensors), or a deflated one, which is read
  // whole and checked here.
  std::optional<uint32_t> read_part(size_t index, uint64_t begin, uint64_t end, char* destination,
                                    uint64_t span_begin, uint64_t span_end) const;

  // True when storage `index` lies in the file as is (pread-able, thread-safe).
  bool direct(size_t index) const;

 private:
  // InputError unless begin <= end <= the storage's bytes and [begin, end) lies in the span.
  void check_range(const CheckpointStorage& storage, uint64_t begin, uint64_t end, uint64_t span_begin,
                   uint64_t span_end) const;
  // Reads [first, last) of a stored record, copies [begin, end) (inside it) to destination;
  // returns the CRC-32 of [first, last) when asked for, else 0.
  uint32_t read_direct(size_t index, uint64_t begin, uint64_t end, char* destination, uint64_t first, uint64_t last,
                       bool with_crc) const;
  void read_streamed(size_t index, uint64_t begin, uint64_t end, char* destination) const;

  const CheckpointFile& file_;
  int fd_ = -1;
};

}  // namespace metaguard
