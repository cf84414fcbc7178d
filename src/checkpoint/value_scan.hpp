#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/finding.hpp"

namespace metaguard {

struct NonfiniteCount {
  int64_t nan = 0;  // elements with a NaN part
  int64_t inf = 0;  // other elements with an infinite part
  int64_t total() const { return nan + inf; }
};

struct ValueScan {
  std::vector<NonfiniteCount> tensors;  // one per CheckpointFile::tensors(), meta ones zero
  uint64_t bytes_read = 0;
};

// Reads every storage once, front to back, through one buffer of `buffer_bytes` (so the
// whole record is CRC-checked), and counts NaN/Inf per tensor for float16, bfloat16,
// float32, float64, complex64 and complex128. A tensor that views its whole storage takes
// the storage's count; when a storage holds non-finite values and a tensor views only part
// of it, that tensor's elements are visited again through the same buffer. An element
// counts once per logical position, as torch.isfinite(t).sum() does (expanded dims count
// their repeats). Throws InputError naming the file on unreadable or corrupt data.
ValueScan scan_values(const CheckpointFile& file, size_t buffer_bytes = size_t{1} << 20);

// One `nonfinite-values` error per tensor with a non-zero count.
std::vector<Finding> nonfinite_findings(const CheckpointFile& file, const ValueScan& scan);

}  // namespace metaguard
