#include "walk/tensor_facts.hpp"

#include <ATen/ATen.h>

#include "core/hashing.hpp"
#include "walk/dtype_names.hpp"

namespace metaguard {

std::string device_name(const c10::Device& device) {
  if (device.is_cpu()) return "cpu";
  if (device.is_meta()) return "meta";
  return device.str();
}

void describe_tensor(const at::Tensor& t, TensorRecord& r) {
  r.dtype = dtype_name(t.scalar_type());
  r.shape = t.sizes().vec();
  r.numel = t.numel();
  r.nbytes = r.numel * static_cast<int64_t>(t.element_size());
  const bool strided = t.layout() == c10::kStrided;
  r.storage_offset = strided ? t.storage_offset() : 0;
  r.contiguous = strided && t.is_contiguous();
  r.requires_grad = t.requires_grad();
  r.tensor_key = reinterpret_cast<uint64_t>(t.unsafeGetTensorImpl());
  r.storage_key = strided && t.has_storage() ? reinterpret_cast<uint64_t>(t.storage().unsafeGetStorageImpl()) : 0;
  r.version = static_cast<uint32_t>(t.is_inference() ? 0 : t._version());
  r.device = device_name(t.device());
}

uint64_t content_hash(const at::Tensor& tensor) {
  at::Tensor values = tensor.detach();
  if (!values.device().is_cpu()) values = values.to(at::kCPU);
  values = values.contiguous();
  uint64_t seed = fnv1a64(dtype_name(values.scalar_type()));
  for (int64_t size : values.sizes()) seed = mix64(seed ^ static_cast<uint64_t>(size));
  return hash_bytes(values.data_ptr(), values.numel() * values.element_size(), seed);
}

}  // namespace metaguard
