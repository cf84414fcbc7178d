#include "core/tensor_record.hpp"

#include <string_view>

namespace metaguard {

int64_t element_size(std::string_view dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16") return 2;
  if (dtype == "float64" || dtype == "int64" || dtype == "complex64") return 8;
  if (dtype == "int8" || dtype == "uint8" || dtype == "bool") return 1;
  if (dtype == "complex128") return 16;
  return 0;
}

}  // namespace metaguard
