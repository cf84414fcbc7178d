#include "walk/dtype_names.hpp"

#include <utility>

namespace metaguard {
namespace {

constexpr std::pair<c10::ScalarType, const char*> kNames[] = {
    {c10::ScalarType::Half, "float16"},         {c10::ScalarType::BFloat16, "bfloat16"},
    {c10::ScalarType::Float, "float32"},        {c10::ScalarType::Double, "float64"},
    {c10::ScalarType::Char, "int8"},            {c10::ScalarType::Byte, "uint8"},
    {c10::ScalarType::Short, "int16"},          {c10::ScalarType::Int, "int32"},
    {c10::ScalarType::Long, "int64"},           {c10::ScalarType::Bool, "bool"},
    {c10::ScalarType::ComplexFloat, "complex64"}, {c10::ScalarType::ComplexDouble, "complex128"},
};

}  // namespace

std::string dtype_name(c10::ScalarType type) {
  for (const auto& [scalar, name] : kNames) {
    if (scalar == type) return name;
  }
  return c10::toString(type);
}

std::optional<c10::ScalarType> scalar_type_from_name(std::string_view name) {
  for (const auto& [scalar, known] : kNames) {
    if (name == known) return scalar;
  }
  return std::nullopt;
}

}  // namespace metaguard
