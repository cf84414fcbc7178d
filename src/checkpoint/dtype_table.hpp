#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace metaguard {

// How a dtype's values are checked for NaN/Inf (integers and bool never are).
enum class ValueKind { Integer, Bool, Float16, BFloat16, Float32, Float64, Complex64, Complex128 };

// One dtype of CONTRACT.md and its spellings in the two checkpoint formats.
struct DtypeInfo {
  std::string_view name;              // PyTorch's name: "float32"
  int64_t element_size;               // bytes per element
  std::string_view storage_type;      // torch.save's storage global: "FloatStorage"
  std::string_view safetensors_code;  // "F32"; empty where safetensors has no code
  ValueKind kind;
};

// Lookups; std::nullopt for anything metaguard does not know (callers name it in errors).
std::optional<DtypeInfo> dtype_by_name(std::string_view name);
// "FloatStorage" (the global's name inside module `torch`).
std::optional<DtypeInfo> dtype_by_storage_type(std::string_view storage_type);
// A dtype global's name inside module `torch`: "float32", and aliases such as "float", "half".
std::optional<DtypeInfo> dtype_by_torch_attribute(std::string_view attribute);
std::optional<DtypeInfo> dtype_by_safetensors_code(std::string_view code);

}  // namespace metaguard
