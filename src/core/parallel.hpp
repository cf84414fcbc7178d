#pragma once
#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace metaguard {

// Runs work(w, workers) for every w in [0, workers): w = 0 on the calling thread, the others on
// threads of their own (workers < 1 counts as 1). Every thread is joined before the first error
// a worker threw (by worker number) is rethrown, so nothing runs on after the call returns and
// an exception never ends the process from a thread.
//
// The one way metaguard splits work over threads: hashing in the walker, checkpoint loading,
// materialization, chunked initialization, regression scenarios.
template <typename Work>
void run_parallel(int workers, const Work& work) {
  workers = std::max(workers, 1);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
  auto guarded = [&work, &errors, workers](int w) {
    try {
      work(w, workers);
    } catch (...) {
      errors[static_cast<size_t>(w)] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(workers - 1));
  for (int w = 1; w < workers; ++w) pool.emplace_back(guarded, w);
  guarded(0);
  for (auto& thread : pool) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace metaguard
