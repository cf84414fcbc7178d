#include "train/test_knobs.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace metaguard {
namespace {

std::optional<int64_t> number(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  try {
    return std::stoll(value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

TestKnobs TestKnobs::from_environment() {
  TestKnobs knobs;
  if (auto rank = number("METAGUARD_TEST_KILL_RANK")) knobs.kill_rank = static_cast<int>(*rank);
  knobs.kill_step = number("METAGUARD_TEST_KILL_STEP");
  if (auto rank = number("METAGUARD_TEST_HANG_RANK")) knobs.hang_rank = static_cast<int>(*rank);
  knobs.hang_step = number("METAGUARD_TEST_HANG_STEP");
  return knobs;
}

void TestKnobs::after_step(int rank, int64_t step) const {
  if (kill_rank && kill_step && *kill_rank == rank && *kill_step == step) {
    std::fprintf(stderr, "metaguard: TEST-ONLY: rank %d kills itself after step %lld\n", rank, static_cast<long long>(step));
    std::fflush(stderr);
    ::kill(::getpid(), SIGKILL);
  }
  if (hang_rank && hang_step && *hang_rank == rank && *hang_step == step) {
    std::fprintf(stderr, "metaguard: TEST-ONLY: rank %d hangs after step %lld\n", rank, static_cast<long long>(step));
    std::fflush(stderr);
    for (;;) ::pause();
  }
}

}  // namespace metaguard
