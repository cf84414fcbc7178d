#include "checkpoint/dtype_table.hpp"

#include <array>

namespace metaguard {
namespace {

constexpr std::array<DtypeInfo, 12> kDtypes = {{
    {"float16", 2, "HalfStorage", "F16", ValueKind::Float16},
    {"bfloat16", 2, "BFloat16Storage", "BF16", ValueKind::BFloat16},
    {"float32", 4, "FloatStorage", "F32", ValueKind::Float32},
    {"float64", 8, "DoubleStorage", "F64", ValueKind::Float64},
    {"int8", 1, "CharStorage", "I8", ValueKind::Integer},
    {"uint8", 1, "ByteStorage", "U8", ValueKind::Integer},
    {"int16", 2, "ShortStorage", "I16", ValueKind::Integer},
    {"int32", 4, "IntStorage", "I32", ValueKind::Integer},
    {"int64", 8, "LongStorage", "I64", ValueKind::Integer},
    {"bool", 1, "BoolStorage", "BOOL", ValueKind::Bool},
    {"complex64", 8, "ComplexFloatStorage", "C64", ValueKind::Complex64},
    {"complex128", 16, "ComplexDoubleStorage", "", ValueKind::Complex128},
}};

// torch's dtype aliases (torch.float is torch.float32, ...), as pickled by name.
struct Alias {
  std::string_view alias;
  std::string_view name;
};
constexpr std::array<Alias, 9> kAliases = {{
    {"half", "float16"}, {"float", "float32"}, {"double", "float64"}, {"short", "int16"},
    {"int", "int32"}, {"long", "int64"}, {"cfloat", "complex64"}, {"cdouble", "complex128"},
    {"bool", "bool"},
}};

template <typename Match>
std::optional<DtypeInfo> find_dtype(Match match) {
  for (const auto& info : kDtypes) {
    if (match(info)) return info;
  }
  return std::nullopt;
}

}  // namespace

std::optional<DtypeInfo> dtype_by_name(std::string_view name) {
  return find_dtype([&](const DtypeInfo& info) { return info.name == name; });
}

std::optional<DtypeInfo> dtype_by_storage_type(std::string_view storage_type) {
  return find_dtype([&](const DtypeInfo& info) { return info.storage_type == storage_type; });
}

std::optional<DtypeInfo> dtype_by_torch_attribute(std::string_view attribute) {
  if (auto direct = dtype_by_name(attribute)) return direct;
  for (const auto& alias : kAliases) {
    if (alias.alias == attribute) return dtype_by_name(alias.name);
  }
  return std::nullopt;
}

std::optional<DtypeInfo> dtype_by_safetensors_code(std::string_view code) {
  if (code.empty()) return std::nullopt;
  return find_dtype([&](const DtypeInfo& info) { return info.safetensors_code == code; });
}

}  // namespace metaguard
