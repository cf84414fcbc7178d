#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace c10d {
struct TCPStoreOptions;
}  // namespace c10d

namespace metaguard {

// Bumps a counter in the rendezvous store every kInterval, from a connection of its own, so that
// peers can tell a live rank from a dead or frozen one (three intervals without a bump).
//
// It connects within options.timeout (a lossy link may need the run's whole timeout for that);
// stopping waits at most `stop_limit` for a bump in flight: a thread stuck on a store that no
// longer answers (its host's link cut) is left behind, owning all it uses, and the rank exits
// in time.
class Heartbeat {
 public:
  static constexpr std::chrono::milliseconds kInterval{250};

  Heartbeat(const std::string& address, const c10d::TCPStoreOptions& options, std::string key,
            std::chrono::milliseconds stop_limit);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::chrono::milliseconds stop_limit_;
  std::thread thread_;
};

}  // namespace metaguard
