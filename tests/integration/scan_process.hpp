#pragma once
// The scan and Python interop tests run programs through the library's process runner.
#include <string>
#include <vector>

#include "support/run_process.hpp"

#include "unit/base/checkpoint_test_support.hpp"

namespace metaguard::test {

inline ProcessResult run_metaguard(std::vector<std::string> args) {
  args.insert(args.begin(), build_path("metaguard"));
  return run_process(args);
}

}  // namespace metaguard::test
