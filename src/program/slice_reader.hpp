#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "load/storage_reader.hpp"
#include "program/sharded_tensors.hpp"

namespace metaguard {

// Reads this rank's slices of frozen weights from a checkpoint under --strategy shard, and
// checks together with the other ranks what no rank can check alone: a zip record's CRC-32
// covers the whole weight, of which each rank reads only its part. Each rank computes the
// CRC-32 of its span of the record (rank 0's starts at the record's first byte, the last
// rank's ends at its last, so the spans tile the record), and verify() combines every
// rank's in rank order (zlib's crc32_combine) into the record's.
class SliceReader {
 public:
  // `file` and `shards` must outlive the reader.
  SliceReader(const CheckpointFile& file, ShardedTensors& shards);

  // This rank's slice of `tensor` from the file's `entry`, straight into a new local buffer
  // on `device`, when the file stores the weight as the model holds it (contiguous, same
  // shape and dtype) and alone in its record: returns the bytes of the slice. nullopt,
  // nothing read, when it does not (the caller loads the weight whole and cuts it).
  std::optional<uint64_t> read(ShardedTensor& tensor, const CheckpointTensor& entry, const torch::Device& device);

  // Collective: every rank calls it once, after its reads. A record whose combined CRC-32
  // differs from the one the zip stores throws InputError "'<file>': ..." on every rank.
  // Records not every rank read in part (read whole elsewhere, or without a CRC) are left
  // to the checks of those reads.
  void verify(SliceGatherer& gatherer) const;

 private:
  struct Part {
    int64_t storage = -1;  // none: not read in part on this rank
    uint32_t crc = 0;      // of the span
    uint64_t length = 0;   // the span's bytes
  };

  const CheckpointFile& file_;
  ShardedTensors& shards_;
  StorageReader reader_;
  std::vector<Part> parts_;  // by the sharded tensor's index
};

}  // namespace metaguard
