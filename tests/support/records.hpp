#pragma once
#include <string>
#include <vector>

#include "core/inventory.hpp"

// Builders for hand-made inventories in torch-free tests.
namespace metaguard::test {

inline TensorRecord record(const std::string& name, TensorKind kind = TensorKind::Parameter,
                           const std::string& device = "cpu", uint64_t storage_key = 0) {
  TensorRecord r;
  r.name = name;
  r.kind = kind;
  r.device = device;
  r.dtype = "float32";
  r.shape = {4, 4};
  r.numel = 16;
  r.nbytes = 64;
  r.requires_grad = kind == TensorKind::Parameter ? std::optional<bool>(false) : std::nullopt;
  static uint64_t next_key = 1000;
  r.storage_key = storage_key != 0 ? storage_key : ++next_key;
  r.tensor_key = ++next_key;
  return r;
}

}  // namespace metaguard::test
