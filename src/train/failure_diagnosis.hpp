#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/side_channel.hpp"

namespace metaguard {

// Who a collective that failed on this rank was waiting for, read from the side channel: the
// ranks to blame (`missing`) and one sentence each, plus one for the ranks that saw the same
// collective fail (stopped by it, not its cause).
struct FailureDiagnosis {
  std::vector<int> missing;
  std::vector<std::string> lines;
};

// Records that this rank saw collective `sequence` fail, watches the peers' heartbeats for
// three intervals, then reads what each peer announced, where it was last seen and its host.
// Throws StoreUnreachable when the store does not answer.
FailureDiagnosis diagnose_failure(SideChannel& side, int rank, int world_size, int64_t sequence);

}  // namespace metaguard
