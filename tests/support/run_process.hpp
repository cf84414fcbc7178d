#pragma once
#include <string>

#include "core/subprocess.hpp"
#include "support/paths.hpp"

// The CLI tests run the built executables through the library's own subprocess runner.
namespace metaguard::test {

using metaguard::ProcessResult;
using metaguard::run_process;

inline std::string metaguard_exe() { return build_path("metaguard"); }

}  // namespace metaguard::test
