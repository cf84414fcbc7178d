#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/report.hpp"

namespace metaguard {

struct LaunchOptions {
  int nproc = 1;
  std::string executable;          // the rank program (metaguard-torch)
  std::vector<std::string> args;   // its arguments ("train", flags...)
  int master_port = 0;             // 0: a free port
  double timeout_seconds = 120;    // the ranks' collective timeout
  int threads_per_rank = 1;        // OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when unset
  std::string out;                 // --out DIR, if any (to read rank reports when rank 0 left none)
};

struct RankExit {
  int rank = 0;
  std::optional<int> exit_code;  // none: killed by a signal
  std::optional<int> signal;
};

struct LaunchResult {
  int exit_code = 0;               // the worst of the ranks' (a signal counts as 1)
  std::vector<RankExit> ranks;
  std::optional<Report> report;    // the run report rank 0 wrote (or one the launcher made up)
};

// `metaguard train --nproc N` on one machine, as torchrun's standalone mode does it: picks
// a free port, starts N ranks (fork/exec of the rank program with RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards their output line by
// line with a "[rank k] " prefix, and supervises them:
//   - each rank runs in its own process group and dies with the launcher (PDEATHSIG);
//   - once a rank fails, the others get a third of the collective timeout (at least 3 s) to
//     write their reports and exit; stragglers then get SIGTERM, and SIGKILL 2 s later;
//   - SIGINT/SIGTERM to the launcher is passed on to every rank the same way.
// Nothing is left running when run() returns.
class Launcher {
 public:
  explicit Launcher(LaunchOptions options) : options_(std::move(options)) {}
  // Throws InputError when the given port is taken (before starting any rank).
  LaunchResult run();

 private:
  LaunchOptions options_;
};

// A TCP port on 127.0.0.1 nobody listens on right now.
int pick_free_port();
// True when something already listens on `port` (or it cannot be bound).
bool port_in_use(int port);

}  // namespace metaguard
