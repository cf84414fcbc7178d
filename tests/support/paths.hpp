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
// The Python whose torch the interop tests compare with: Debian's python3 (python3-torch)
// beside Debian's LibTorch, the virtual environment's beside a PyTorch wheel's
// (-DMETAGUARD_PYTHON, set by scripts/setup.sh --torch2).
#ifdef METAGUARD_PYTHON
inline std::string python_executable() { return METAGUARD_PYTHON; }
#else
inline std::string python_executable() { return "/usr/bin/python3"; }
#endif
}  // namespace metaguard::test
