#pragma once
// What the explain/diff/html integration tests share: the library's process runner and
// the one scratch directory helper.
#include "support/run_process.hpp"
#include "support/scratch_dir.hpp"

namespace metaguard::test {

using TempDir = ScratchDir;

}  // namespace metaguard::test
