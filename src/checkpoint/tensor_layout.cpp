#include "checkpoint/tensor_layout.hpp"

namespace metaguard {

std::optional<int64_t> checked_multiply(int64_t a, int64_t b) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t dim : shape) {
    auto next = checked_multiply(numel, dim);
    if (!next) return std::nullopt;
    numel = *next;
  }
  return numel;
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> stride(shape.size(), 1);
  int64_t running = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    stride[i] = running;
    running *= shape[i] > 1 ? shape[i] : 1;
  }
  return stride;
}

bool is_contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
  for (int64_t dim : shape) {
    if (dim == 0) return true;
  }
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (stride[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

std::optional<int64_t> required_storage_numel(const std::vector<int64_t>& shape,
                                              const std::vector<int64_t>& stride,
                                              int64_t storage_offset) {
  if (shape.size() != stride.size() || storage_offset < 0) return std::nullopt;
  auto numel = checked_numel(shape);
  if (!numel) return std::nullopt;
  for (int64_t s : stride) {
    if (s < 0) return std::nullopt;
  }
  if (*numel == 0) return 0;
  int64_t extent = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    auto span = checked_multiply(shape[i] - 1, stride[i]);
    if (!span) return std::nullopt;
    auto sum = checked_add(extent, *span);
    if (!sum) return std::nullopt;
    extent = *sum;
  }
  return checked_add(extent, storage_offset);
}

}  // namespace metaguard
