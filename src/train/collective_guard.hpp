#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "guard/guard.hpp"
#include "program/init_program.hpp"
#include "train/communicator.hpp"
#include "train/replica_comparison.hpp"
#include "train/run_stopped.hpp"

namespace metaguard {

// A guard point that every rank passes together. Each rank checks its own model through
// its Guard (policy off, warn, fail or repair); then the ranks agree, in one all-reduce,
// whether any of them must stop, so that all stop together (RunStopped) or all go on.
//
// Under `repair`, a divergent replica is re-broadcast from rank 0: the ranks know the
// divergent names from the hash exchange, so rank 0 sends exactly what the others receive
// even though only they have findings. After any repair on any rank, the point runs once
// more with the hash comparison: the repair is verified across ranks, and a finding counts
// as repaired only if that second look no longer sees it.
class CollectiveGuard {
 public:
  CollectiveGuard(RankSession& session, Communicator& communicator, Replicator& replicator, int threads);

  // Returns this rank's findings (repaired ones marked; warnings under `warn`); keeps them
  // in the session. Throws RunStopped on every rank when any rank stops.
  std::vector<Finding> run(const std::string& phase, DataNeeds needs, const GuardExtras& extras = {});

  // Seconds spent in guard points so far (checks, hashing, agreement).
  double seconds() const { return seconds_; }
  // The same, per phase (a phase that runs several times adds up).
  const std::map<std::string, double>& seconds_by_phase() const { return seconds_by_phase_; }
  GuardPolicy policy() const { return session_.guard().config().policy; }
  // The latest cross-rank comparison (empty before the first).
  const ReplicaComparison& last_comparison() const { return comparison_; }

 private:
  struct Attempt {
    std::vector<Finding> findings;
    bool failed = false;   // errors remain that no later step can clear
    bool changed = false;  // something was repaired or re-broadcast here
    std::string message;
  };
  struct Agreement {
    std::vector<int> failed_ranks;
    bool any_changed = false;
  };

  Attempt attempt(const std::string& phase, DataNeeds needs, GuardExtras extras);
  Agreement agree(const Attempt& attempt, const std::string& phase);
  [[noreturn]] void stop(const std::string& phase, const Agreement& agreement, const Attempt& attempt);
  std::vector<std::string> rebroadcast();

  RankSession& session_;
  Communicator& communicator_;
  Replicator& replicator_;
  int threads_;
  double seconds_ = 0;
  std::map<std::string, double> seconds_by_phase_;
  ReplicaComparison comparison_;
  std::vector<std::string> divergent_;
  std::vector<std::string> rebroadcast_names_;
  bool rebroadcast_done_ = false;
  std::set<std::string> not_replicas_;  // --strategy shard: every name of a sharded weight
};

}  // namespace metaguard
