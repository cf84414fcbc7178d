#pragma once
#include <torch/types.h>

namespace metaguard {

// Makes `target` become `source` (storage, device, dtype, sizes, strides) while keeping
// target's TensorImpl, so every handle to it (the module's member, its registry, an
// optimizer built earlier, an alias) sees the new data; requires_grad and leaf status
// stay. The C++ counterpart of Python's torch.utils.swap_tensors.
//
// This is the only place in metaguard that touches a TensorImpl directly (an internal
// LibTorch API: LIBTORCH-NOTES.md). Views taken of `target` before the swap keep their old
// storage: materialize before taking views.
void swap_in_place(const torch::Tensor& target, const torch::Tensor& source);

}  // namespace metaguard
