#include "train/collective_guard.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <torch/torch.h>

namespace metaguard {
namespace {


}  // namespace

CollectiveGuard::CollectiveGuard(RankSession& session, Communicator& communicator, Replicator& replicator, int threads)
    : session_(session), communicator_(communicator), replicator_(replicator), threads_(threads) {
  // The guard's repair of a rank-divergence finding is a re-broadcast of everything the hash
  // exchange found divergent; rank 0, which has no such finding, joins it after its check.
  session_.guard().set_replicate([this](const std::vector<std::string>& names) {
    std::vector<std::string> sent = rebroadcast();
    std::set<std::string> received(sent.begin(), sent.end());
    std::vector<std::string> out;
    for (const auto& name : names) {
      if (received.count(name)) out.push_back(name);
    }
    return out;
  });
}

std::vector<std::string> CollectiveGuard::rebroadcast() {
  if (rebroadcast_done_ || divergent_.empty()) return rebroadcast_names_;
  rebroadcast_done_ = true;
  rebroadcast_names_ = replicator_.replicate(session_, divergent_);
  return rebroadcast_names_;
}

CollectiveGuard::Attempt CollectiveGuard::attempt(const std::string& phase, DataNeeds needs, GuardExtras extras) {
  Attempt out;
  divergent_.clear();
  rebroadcast_names_.clear();
  rebroadcast_done_ = false;
  std::vector<const Inventory*> ranks;
  bool checked = false;
  if (extras.compare_replicas && communicator_.world_size() > 1) {
    Inventory own;
    comparison_ = compare_replicas(session_.walker(), communicator_, threads_, &own, session_.shards());
    divergent_ = comparison_.divergent;
    ranks = comparison_.pointers();
    extras.ranks = &ranks;
    extras.ranks_before_repair = true;
    extras.hash_contents = true;
    if (session_.shards()) {
      if (not_replicas_.empty()) {
        for (const auto& tensor : session_.shards()->tensors()) not_replicas_.insert(tensor.names.begin(), tensor.names.end());
      }
      extras.not_replicas = &not_replicas_;
    }
    // The usual case, nothing to report: the checks on the snapshot just hashed, then the
    // phase recorded without hashing again (hashing is the cost here: 4.4 GB for
    // TinyLlama). Derived buffers are verified only by the guard's own snapshot.
    if (!needs.nonpersistent && session_.guard().check(own, phase, needs, extras).empty()) {
      session_.guard().record(phase);
      checked = true;
    }
  }
  try {
    if (!checked) out.findings = session_.guard().check_point(phase, needs, extras);
  } catch (const GuardFailure& failure) {
    out.findings = failure.findings();
    out.failed = true;
    out.message = failure.what();
  }
  const bool repair = policy() == GuardPolicy::Repair;
  // A repair materializes a sharded weight whole, from its recipe: the rank keeps its slice.
  if (session_.shards()) session_.shards()->settle(session_.guard().config().repair.device);
  session_.describe_slices(out.findings);
  if (repair) rebroadcast();  // no-op unless the exchange found divergence (then every rank joins)
  for (const auto& finding : out.findings) out.changed = out.changed || finding.repaired;
  out.changed = out.changed || rebroadcast_done_;
  // A re-broadcast may fix what the guard's own repair could not; the verification pass
  // that follows every repair decides.
  if (out.failed && rebroadcast_done_) out.failed = false;
  return out;
}

CollectiveGuard::Agreement CollectiveGuard::agree(const Attempt& attempt, const std::string& phase) {
  Agreement out;
  const int world = communicator_.world_size();
  torch::Tensor flags = torch::zeros({2 * world}, torch::kInt64);
  flags[communicator_.rank()] = attempt.failed ? 1 : 0;
  flags[world + communicator_.rank()] = attempt.changed ? 1 : 0;
  communicator_.all_reduce_sum(flags, fmt::format("agree on the outcome of guard point {}", phase));
  auto values = flags.accessor<int64_t, 1>();
  for (int r = 0; r < world; ++r) {
    if (values[r] > 0) out.failed_ranks.push_back(r);
    out.any_changed = out.any_changed || values[world + r] > 0;
  }
  return out;
}

void CollectiveGuard::stop(const std::string& phase, const Agreement& agreement, const Attempt& attempt) {
  std::string message = attempt.failed ? attempt.message
                                       : fmt::format("rank(s) {} had error findings", fmt::join(agreement.failed_ranks, ", "));
  throw RunStopped(phase, agreement.failed_ranks, message);
}

std::vector<Finding> CollectiveGuard::run(const std::string& phase, DataNeeds needs, const GuardExtras& extras) {
  auto start = std::chrono::steady_clock::now();
  struct Timer {
    double& total;
    double& phase;
    std::chrono::steady_clock::time_point start;
    ~Timer() {
      const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      total += spent;
      phase += spent;
    }
  } timer{seconds_, seconds_by_phase_[phase], start};

  if (policy() == GuardPolicy::Off) {
    session_.guard().check_point(phase, needs);  // records the phase, checks nothing
    return {};
  }
  Attempt first = attempt(phase, needs, extras);
  Agreement agreement = agree(first, phase);
  if (!agreement.failed_ranks.empty()) {
    session_.keep(first.findings);
    stop(phase, agreement, first);
  }
  if (!(agreement.any_changed && policy() == GuardPolicy::Repair)) {
    session_.keep(first.findings);
    return first.findings;
  }

  // Verify the repairs, across ranks.
  GuardExtras verify = extras;
  verify.compare_replicas = true;
  Attempt second = attempt(phase, needs, verify);
  std::vector<Finding> all = merge_second_look(first.findings, second.findings);
  // A re-broadcast during verification would need a third look; treat what is left as final.
  if (second.changed && !second.failed) {
    for (const auto& finding : second.findings) second.failed = second.failed || finding.is_open_error();
  }
  Agreement verified = agree(second, phase);
  session_.keep(all);
  if (!verified.failed_ranks.empty()) stop(phase, verified, second);
  return all;
}

}  // namespace metaguard
