#include "train/heartbeat.hpp"

#include <condition_variable>
#include <mutex>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace metaguard {

struct Heartbeat::State {
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool finished = false;
};

Heartbeat::Heartbeat(const std::string& address, const c10d::TCPStoreOptions& options, std::string key,
                     std::chrono::milliseconds stop_limit)
    : state_(std::make_shared<State>()), stop_limit_(stop_limit + kInterval) {
  thread_ = std::thread([state = state_, address, options, key = std::move(key)] {
    try {
      auto client = c10::make_intrusive<c10d::TCPStore>(address, options);
      std::unique_lock<std::mutex> lock(state->mutex);
      while (!state->stopping) {
        lock.unlock();
        client->add(key, 1);
        lock.lock();
        state->wake.wait_for(lock, kInterval, [&] { return state->stopping; });
      }
    } catch (const std::exception&) {
      // No heartbeat from here on: the others will see this rank as gone, which it soon is.
    }
    std::lock_guard<std::mutex> lock(state->mutex);
    state->finished = true;
    state->wake.notify_all();
  });
}

Heartbeat::~Heartbeat() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->stopping = true;
  state_->wake.notify_all();
  // A bump in flight ends within the store's timeout when the store answers at all.
  const bool finished = state_->wake.wait_for(lock, stop_limit_, [&] { return state_->finished; });
  lock.unlock();
  if (finished) {
    thread_.join();
  } else {
    thread_.detach();  // stuck on a store that no longer answers; it owns its state
  }
}

}  // namespace metaguard
