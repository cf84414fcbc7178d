#include "train/failure_diagnosis.hpp"

#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "train/heartbeat.hpp"

namespace metaguard {
namespace {

// "host node7 at 10.0.0.2 on eth1", as far as the store knows the rank's host.
std::string host_of(SideChannel& side, int rank) {
  if (auto host = side.get("host", rank)) return "host " + *host;
  return "host unknown";
}

// What a peer's progress record says: the collective it last entered, and in words.
std::pair<int64_t, std::string> last_seen(const std::optional<std::string>& progress) {
  if (!progress) return {0, "it never entered a collective"};
  const auto bar = progress->find('|');
  const int64_t sequence = std::stoll(progress->substr(0, bar));
  return {sequence, fmt::format("last seen entering collective #{} ({})", sequence, progress->substr(bar + 1))};
}

}  // namespace

FailureDiagnosis diagnose_failure(SideChannel& side, int rank, int world_size, int64_t sequence) {
  // Said first: a peer diagnosing the same failure sees this rank as stopped by it, not as its
  // cause, even if this rank has exited by the time the peer looks.
  if (!side.set("collective-failed", rank, std::to_string(sequence))) {
    throw StoreUnreachable("the store did not take this rank's failure");
  }
  std::map<int, std::optional<std::string>> progress;
  std::map<int, int64_t> before;
  for (int r = 0; r < world_size; ++r) {
    if (r == rank) continue;
    progress[r] = side.get("progress", r);
    before[r] = side.counter("heartbeat", r);
  }
  // A live rank bumps its heartbeat every interval; three intervals without one is death.
  const auto watch = 3 * Heartbeat::kInterval;
  std::this_thread::sleep_for(watch);
  FailureDiagnosis diagnosis;
  std::vector<int> also_failed;
  for (const auto& [r, its_progress] : progress) {
    const auto [its_sequence, seen] = last_seen(its_progress);
    if (auto reason = side.get("failed", r)) {
      diagnosis.missing.push_back(r);
      diagnosis.lines.push_back(fmt::format("rank {} stopped ({}): {}", r, host_of(side, r), *reason));
    } else if (side.get("collective-failed", r)) {
      also_failed.push_back(r);
    } else if (side.counter("heartbeat", r) == before[r]) {
      diagnosis.missing.push_back(r);
      diagnosis.lines.push_back(fmt::format("rank {} is gone (no heartbeat for {} ms: dead or frozen; {}; {})", r,
                                            watch.count(), host_of(side, r), seen));
    } else if (its_sequence < sequence) {
      diagnosis.missing.push_back(r);
      diagnosis.lines.push_back(fmt::format("rank {} is alive but never arrived ({}; {})", r, host_of(side, r), seen));
    }
  }
  if (!also_failed.empty()) {
    diagnosis.lines.push_back(fmt::format("{} {} saw it fail too", also_failed.size() == 1 ? "rank" : "ranks",
                                          fmt::join(also_failed, ", ")));
  }
  return diagnosis;
}

}  // namespace metaguard
