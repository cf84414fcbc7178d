#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <c10/util/intrusive_ptr.h>

namespace c10d {
class TCPStore;
struct TCPStoreOptions;
}  // namespace c10d

namespace metaguard {

// The store stopped answering within the side channel's timeout.
class StoreUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Small messages between the ranks of a run through the rendezvous store (c10d's TCPStore), on a
// connection of their own: failures, their diagnosis, hosts and end-of-run results. Keys are
// "<prefix>/<what>/<rank>".
//
// Every call returns within the channel's timeout. TCPStore reads its replies without one
// (LibTorch 1.13), and a rank cut off from the store's host must still write its report and
// exit in time (docs/RELIABILITY.md). The first call that runs out of time marks the channel
// unreachable; later calls then fail or return at once instead of waiting again.
class SideChannel {
 public:
  SideChannel() = default;
  // Connects to the store at `address` within options.timeout (throws what TCPStore throws);
  // every later call returns within `call_limit` (or options.timeout, if shorter). Connecting
  // gets the run's whole timeout: on a lossy link a lost SYN alone costs TCP 1 s, then 2.
  SideChannel(const std::string& address, const c10d::TCPStoreOptions& options, std::string key_prefix,
              std::chrono::milliseconds call_limit);

  std::string key(const std::string& what, int rank) const;
  std::chrono::milliseconds timeout() const { return timeout_; }
  bool reachable() const { return store_ && reachable_; }

  // false when not delivered (the store is gone or unreachable); never throws.
  bool set(const std::string& what, int rank, const std::string& text) noexcept;
  // The value, nullopt when the key is absent; StoreUnreachable when the store did not answer.
  std::optional<std::string> get(const std::string& what, int rank);
  // The counter's value (c10d's add of 0); StoreUnreachable when the store did not answer.
  int64_t counter(const std::string& what, int rank);

 private:
  template <typename Work>
  auto bounded(Work work);

  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::string prefix_;
  std::chrono::milliseconds timeout_{0};
  bool reachable_ = true;
};

}  // namespace metaguard
