#pragma once
#include <cstdint>
#include <optional>

namespace metaguard {

// TEST-ONLY environment variables that make one rank die or hang, so the tests can prove
// that the others stop in time, name it, and leave a loadable checkpoint. Never set them
// in real runs (docs/TRAINING.md lists them):
//   METAGUARD_TEST_KILL_RANK=k METAGUARD_TEST_KILL_STEP=s   rank k SIGKILLs itself after step s
//   METAGUARD_TEST_HANG_RANK=k METAGUARD_TEST_HANG_STEP=s   rank k sleeps forever after step s
struct TestKnobs {
  std::optional<int> kill_rank;
  std::optional<int64_t> kill_step;
  std::optional<int> hang_rank;
  std::optional<int64_t> hang_step;

  static TestKnobs from_environment();
  // Called after each completed optimizer step (1-based `step`).
  void after_step(int rank, int64_t step) const;
};

}  // namespace metaguard
