#include "checkpoint/value_scan.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "checkpoint/dtype_table.hpp"
#include "checkpoint/file_error.hpp"

namespace metaguard {
namespace {

enum class Class { Finite, Nan, Inf };

template <typename Bits>
Bits load_le(const unsigned char* p) {
  Bits value = 0;
  for (size_t i = sizeof(Bits); i-- > 0;) value = static_cast<Bits>((value << 8) | p[i]);
  return value;
}

// IEEE classes from the bits: exponent all ones means Inf (mantissa 0) or NaN.
template <typename Bits>
Class classify_bits(Bits bits, int mantissa_bits, int exponent_bits) {
  const Bits mantissa_mask = static_cast<Bits>((Bits{1} << mantissa_bits) - 1);
  const Bits exponent_mask = static_cast<Bits>((Bits{1} << exponent_bits) - 1);
  if (((bits >> mantissa_bits) & exponent_mask) != exponent_mask) return Class::Finite;
  return (bits & mantissa_mask) ? Class::Nan : Class::Inf;
}

Class combine(Class a, Class b) {
  if (a == Class::Nan || b == Class::Nan) return Class::Nan;
  if (a == Class::Inf || b == Class::Inf) return Class::Inf;
  return Class::Finite;
}

Class classify(ValueKind kind, const unsigned char* p) {
  switch (kind) {
    case ValueKind::Float16: return classify_bits<uint16_t>(load_le<uint16_t>(p), 10, 5);
    case ValueKind::BFloat16: return classify_bits<uint16_t>(load_le<uint16_t>(p), 7, 8);
    case ValueKind::Float32: return classify_bits<uint32_t>(load_le<uint32_t>(p), 23, 8);
    case ValueKind::Float64: return classify_bits<uint64_t>(load_le<uint64_t>(p), 52, 11);
    case ValueKind::Complex64: return combine(classify(ValueKind::Float32, p), classify(ValueKind::Float32, p + 4));
    case ValueKind::Complex128: return combine(classify(ValueKind::Float64, p), classify(ValueKind::Float64, p + 8));
    default: return Class::Finite;
  }
}

bool checks_values(ValueKind kind) { return kind != ValueKind::Integer && kind != ValueKind::Bool; }

void add(NonfiniteCount& count, Class c, int64_t weight = 1) {
  if (c == Class::Nan) count.nan += weight;
  if (c == Class::Inf) count.inf += weight;
}

// Fills `buffer` from `stream` until it is full or the stream ends; returns the bytes read.
size_t fill(StorageStream& stream, char* buffer, size_t size) {
  size_t done = 0;
  while (done < size) {
    size_t got = stream.read(buffer + done, size - done);
    if (got == 0) break;
    done += got;
  }
  return done;
}

// A window of whole elements of one storage, moved by reading forward (or reopening the
// stream to go back). Uses the caller's one buffer.
class ElementWindow {
 public:
  ElementWindow(const CheckpointFile& file, size_t storage, int64_t element_size, std::vector<char>& buffer)
      : file_(file), storage_(storage), element_(element_size), buffer_(buffer),
        capacity_(static_cast<int64_t>(buffer.size()) / element_size) {}

  // Pointer to element `index` (which must be inside the storage).
  const unsigned char* at(int64_t index) {
    if (index < start_ || index >= start_ + length_) move_to(index);
    return reinterpret_cast<const unsigned char*>(buffer_.data()) + (index - start_) * element_;
  }

 private:
  void move_to(int64_t index) {
    if (!stream_ || index < position_) {
      stream_ = file_.open_storage(storage_);
      position_ = 0;
    }
    while (true) {
      size_t got = fill(*stream_, buffer_.data(), static_cast<size_t>(capacity_ * element_));
      start_ = position_;
      length_ = static_cast<int64_t>(got) / element_;
      position_ += length_;
      if (index < position_) return;
      if (length_ < capacity_) {
        fail_file(file_.path(), fmt::format("storage '{}' ends before element {}",
                                            printable(file_.storages()[storage_].key), index));
      }
    }
  }

  const CheckpointFile& file_;
  size_t storage_;
  int64_t element_;
  std::vector<char>& buffer_;
  int64_t capacity_;
  std::unique_ptr<StorageStream> stream_;
  int64_t position_ = 0;  // elements consumed from the stream
  int64_t start_ = 0;     // first element in the buffer
  int64_t length_ = 0;    // elements in the buffer
};

// Does the view cover every element of its storage exactly once?
bool covers_storage(const CheckpointTensor& tensor, const CheckpointStorage& storage) {
  return tensor.contiguous && tensor.storage_offset == 0 && tensor.numel == storage.numel;
}

// Visits a view's elements with dims ordered by falling stride, so a non-overlapping view
// walks its storage front to back; stride-0 dims are folded into a weight.
NonfiniteCount count_view(const CheckpointTensor& tensor, ValueKind kind, ElementWindow& window) {
  NonfiniteCount count;
  if (tensor.numel == 0) return count;
  int64_t weight = 1;
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size)
  for (size_t i = 0; i < tensor.shape.size(); ++i) {
    if (tensor.shape[i] == 1) continue;
    if (tensor.stride[i] == 0) {
      weight *= tensor.shape[i];
      continue;
    }
    dims.emplace_back(tensor.stride[i], tensor.shape[i]);
  }
  std::stable_sort(dims.begin(), dims.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> index(dims.size(), 0);
  int64_t offset = tensor.storage_offset;
  while (true) {
    add(count, classify(kind, window.at(offset)), weight);
    bool advanced = false;
    for (size_t d = dims.size(); d-- > 0;) {
      if (++index[d] < dims[d].second) {
        offset += dims[d].first;
        advanced = true;
        break;
      }
      offset -= dims[d].first * (dims[d].second - 1);
      index[d] = 0;
    }
    if (!advanced) return count;
  }
}

}  // namespace

ValueScan scan_values(const CheckpointFile& file, size_t buffer_bytes) {
  ValueScan scan;
  scan.tensors.resize(file.tensors().size());
  std::vector<std::vector<size_t>> views(file.storages().size());
  for (size_t t = 0; t < file.tensors().size(); ++t) {
    if (file.tensors()[t].storage) views[*file.tensors()[t].storage].push_back(t);
  }
  // 16 bytes (complex128) divide every element size, so whole elements fill the buffer.
  std::vector<char> buffer(std::max<size_t>(buffer_bytes / 16, 1) * 16);

  for (size_t s = 0; s < file.storages().size(); ++s) {
    const CheckpointStorage& storage = file.storages()[s];
    const DtypeInfo dtype = *dtype_by_name(storage.dtype);
    const bool check = checks_values(dtype.kind);
    // Pass 1: the whole record, front to back (CRC-checked at its end).
    NonfiniteCount whole;
    auto stream = file.open_storage(s);
    uint64_t position = 0;
    while (true) {
      size_t got = fill(*stream, buffer.data(), buffer.size());
      if (got == 0) break;
      if (check && position < static_cast<uint64_t>(storage.nbytes)) {
        uint64_t usable = std::min<uint64_t>(got, static_cast<uint64_t>(storage.nbytes) - position);
        const auto* bytes = reinterpret_cast<const unsigned char*>(buffer.data());
        for (uint64_t at = 0; at + static_cast<uint64_t>(dtype.element_size) <= usable; at += static_cast<uint64_t>(dtype.element_size)) {
          add(whole, classify(dtype.kind, bytes + at));
        }
      }
      position += got;
    }
    scan.bytes_read += position;
    if (position < static_cast<uint64_t>(storage.nbytes)) {
      fail_file(file.path(), fmt::format("storage '{}' yields {} bytes where {} are declared",
                                         printable(storage.key), position, storage.nbytes));
    }
    if (!check || whole.total() == 0) continue;
    // Pass 2, only where needed: tensors that view part of a storage holding NaN/Inf.
    for (size_t t : views[s]) {
      const CheckpointTensor& tensor = file.tensors()[t];
      if (covers_storage(tensor, storage)) {
        scan.tensors[t] = whole;
        continue;
      }
      ElementWindow window(file, s, dtype.element_size, buffer);
      scan.tensors[t] = count_view(tensor, dtype.kind, window);
    }
  }
  return scan;
}

std::vector<Finding> nonfinite_findings(const CheckpointFile& file, const ValueScan& scan) {
  std::vector<Finding> findings;
  for (size_t t = 0; t < file.tensors().size() && t < scan.tensors.size(); ++t) {
    const NonfiniteCount& count = scan.tensors[t];
    if (count.total() == 0) continue;
    const CheckpointTensor& tensor = file.tensors()[t];
    Finding finding;
    finding.code = "nonfinite-values";
    finding.severity = Severity::Error;
    finding.tensor = tensor.name;
    finding.message = fmt::format("checkpoint entry '{}' holds {} non-finite value{} ({} NaN, {} Inf) "
                                  "among its {} elements", tensor.name, count.total(),
                                  count.total() == 1 ? "" : "s", count.nan, count.inf, tensor.numel);
    finding.hint = "re-save from a state before the values diverged (check the loss, learning rate "
                   "and float16 overflow), or re-initialize this tensor";
    findings.push_back(std::move(finding));
  }
  return findings;
}

}  // namespace metaguard
