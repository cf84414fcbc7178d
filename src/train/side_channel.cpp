#include "train/side_channel.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "train/bounded_call.hpp"

namespace metaguard {

SideChannel::SideChannel(const std::string& address, const c10d::TCPStoreOptions& options, std::string key_prefix,
                         std::chrono::milliseconds call_limit)
    : store_(c10::make_intrusive<c10d::TCPStore>(address, options)),
      prefix_(std::move(key_prefix)),
      timeout_(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout), call_limit)) {}

std::string SideChannel::key(const std::string& what, int rank) const {
  return fmt::format("{}/{}/{}", prefix_, what, rank);
}

// The call runs on a thread that owns a reference to the store, so a reply that never comes
// strands only that thread.
template <typename Work>
auto SideChannel::bounded(Work work) {
  if (!reachable()) throw StoreUnreachable("the store did not answer before");
  auto result = call_within(timeout_, [store = store_, work = std::move(work)] { return work(*store); });
  if (!result) {
    reachable_ = false;
    throw StoreUnreachable(fmt::format("the store did not answer within {} s", timeout_.count() / 1000.0));
  }
  return *std::move(result);
}

bool SideChannel::set(const std::string& what, int rank, const std::string& text) noexcept {
  try {
    bounded([name = key(what, rank), text](c10d::TCPStore& store) {
      store.set(name, std::vector<uint8_t>(text.begin(), text.end()));
      return true;
    });
    return true;
  } catch (...) {
    return false;
  }
}

std::optional<std::string> SideChannel::get(const std::string& what, int rank) {
  return bounded([name = key(what, rank)](c10d::TCPStore& store) -> std::optional<std::string> {
    if (!store.check({name})) return std::nullopt;
    const std::vector<uint8_t> value = store.get(name);
    return std::string(value.begin(), value.end());
  });
}

int64_t SideChannel::counter(const std::string& what, int rank) {
  return bounded([name = key(what, rank)](c10d::TCPStore& store) { return store.add(name, 0); });
}

}  // namespace metaguard
