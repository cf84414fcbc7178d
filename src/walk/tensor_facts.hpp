#pragma once
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/tensor_record.hpp"

namespace metaguard {

// What one live tensor says about itself, as a record's plain fields: dtype, shape, device,
// sizes in bytes, strides' contiguity, requires_grad, identity keys and write counter.
// Shared by the C++ module walker and the Python module's walker, so both describe a
// tensor the same way. Tensors without strided storage (sparse, wrapper subclasses) get
// what they can give: no storage key, contiguity false.
void describe_tensor(const at::Tensor& tensor, TensorRecord& record);

// "cpu", "meta" or Device::str() ("cuda:0"); the common ones without a stream.
std::string device_name(const c10::Device& device);

// The content hash used for cross-rank comparison: of the logical values in row-major
// order, so equal tensors hash equal whatever their strides.
uint64_t content_hash(const at::Tensor& tensor);

}  // namespace metaguard
