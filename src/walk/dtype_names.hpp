#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <c10/core/ScalarType.h>

namespace metaguard {

// PyTorch's Python names ("float32", "bfloat16", ...) for LibTorch's scalar types.
std::string dtype_name(c10::ScalarType type);
std::optional<c10::ScalarType> scalar_type_from_name(std::string_view name);

}  // namespace metaguard
