#pragma once
#include <cstdint>
#include <optional>
#include <vector>

// Shape and stride arithmetic as PyTorch defines it, with every product checked for
// overflow: the numbers come from files and may be absurd.
namespace metaguard {

// Product of the dims; std::nullopt when a dim is negative or the product overflows int64.
std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape);

// Row-major strides for `shape` (what torch.empty gives); assumes checked_numel succeeded.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// PyTorch's Tensor.is_contiguous(): dims of size 1 are ignored, empty tensors are contiguous.
bool is_contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride);

// Elements of storage a view needs: storage_offset + 1 + sum((size-1) * stride), or 0 for an
// empty view (PyTorch does not bounds-check those). std::nullopt on negative numbers or overflow.
std::optional<int64_t> required_storage_numel(const std::vector<int64_t>& shape,
                                              const std::vector<int64_t>& stride,
                                              int64_t storage_offset);

// a * b and a + b for non-negative int64, std::nullopt on overflow.
std::optional<int64_t> checked_multiply(int64_t a, int64_t b);
std::optional<int64_t> checked_add(int64_t a, int64_t b);

}  // namespace metaguard
