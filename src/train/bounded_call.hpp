#pragma once
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>

namespace metaguard {

// Runs `work` on a thread of its own and waits for it at most `limit`: its result (or its
// exception, rethrown), or nullopt when it did not finish in time.
//
// Why: c10d's TCPStore client reads replies without a timeout (check, add, get in LibTorch 1.13),
// so a store whose host vanished behind a cut link holds the caller for as long as TCP retries,
// minutes. Past the limit the thread is left behind; `work` must own everything it touches (copy
// it in), since the caller may be gone by the time a late reply wakes it.
template <typename Work>
auto call_within(std::chrono::milliseconds limit, Work work) -> std::optional<decltype(work())> {
  using Result = decltype(work());
  auto task = std::make_shared<std::packaged_task<Result()>>(std::move(work));
  std::future<Result> result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return result.get();
}

}  // namespace metaguard
