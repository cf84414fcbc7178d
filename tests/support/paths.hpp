#pragma once
#include <string>

// Where the tests find the source tree (fixtures) and the build tree (executables).
namespace metaguard::test {
inline std::string source_path(const std::string& relative) {
  return std::string(METAGUARD_SOURCE_DIR) + "/" + relative;
}
inline std::string build_path(const std::string& relative) {
  return std::string(METAGUARD_BUILD_DIR) + "/" + relative;
}
}  // namespace metaguard::test
