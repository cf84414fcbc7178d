#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

namespace c10d {
class Store;
class Work;
}  // namespace c10d

#include "train/collective_failure.hpp"
#include "train/dist_env.hpp"
#include "train/rank_placement.hpp"

namespace metaguard {

// The ranks of one run and the only way they talk: c10d's ProcessGroupGloo on CPU for the
// tensors (NCCL when built with it), c10d's TCPStore for small side-channel messages
// (progress, failures, end-of-run results). World size 1 has neither and every collective
// is the identity.
//
// Every collective waits at most `timeout`. Before each one the rank records in the store
// which collective it is entering, and a background thread bumps a heartbeat; when a
// collective fails, the rank reads both to name who is missing: a rank that announced an
// error, one whose heartbeat stopped (dead), or one that is alive but never arrived (hung
// or behind). Then it throws CollectiveFailure.
class Communicator {
 public:
  // A world of one: no process group, no store.
  Communicator();
  // Rendezvous through TCPStore at MASTER_ADDR:MASTER_PORT (rank 0 hosts it) and connects
  // the process group. A port rank 0 cannot bind is an InputError; peers that never show up
  // within the timeout are a CollectiveFailure.
  // `placement` chooses the backend (Gloo or NCCL) and the device tensors travel on.
  Communicator(const DistEnv& env, std::chrono::milliseconds timeout, const RunPlacement& placement);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // The device tensors travel on: CPU for Gloo (CUDA tensors are staged through the host),
  // cuda:LOCAL_RANK for NCCL. Tensors elsewhere are staged through it.
  torch::Device device() const { return device_; }

  // In place, from rank 0. `what` names the collective in progress records and errors.
  void broadcast(torch::Tensor& tensor, const std::string& what);
  // In place, element-wise sum over ranks.
  void all_reduce_sum(torch::Tensor& tensor, const std::string& what);
  // Every rank's copy of `tensor` (same shape and dtype everywhere), indexed by rank.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor, const std::string& what);
  // The same into the caller's buffers (outputs[r] receives rank r's `input`; same size and
  // dtype everywhere): a sharded run gathers weights straight into one full buffer.
  void all_gather_into(const torch::Tensor& input, std::vector<torch::Tensor>& outputs, const std::string& what);

  // Leaves the process group (this rank stopped on its own): the peers' pending and next
  // collectives fail at once instead of after the timeout. The store stays, for results.
  void leave() noexcept;

  // Side channel. Tells the other ranks this one is stopping and why (never throws).
  void announce_failure(const std::string& reason) noexcept;
  // Ranks > 0: hands rank 0 this rank's end-of-run summary (never throws).
  void post_result(const std::string& text) noexcept;
  // Rank 0: the other ranks' posted results. Ranks in `skip` (known dead) are not waited for,
  // nor is one whose heartbeat stops; the others at most the timeout plus the time a peer
  // needs to diagnose its own failure. Missing ones are absent from the map.
  std::map<int, std::string> collect_results(const std::set<int>& skip);

  // Number of collectives entered so far.
  int64_t sequence() const { return sequence_; }

 private:
  struct Distributed;

  void connect_store();
  void connect_gloo(const c10::intrusive_ptr<c10d::Store>& store);
  void connect_nccl(const c10::intrusive_ptr<c10d::Store>& store, const RunPlacement& placement);
  // Waits for a collective: at once with Gloo (its own timeout); with NCCL in slices,
  // watching for peers that announced a failure, since NCCL's wait would block on them.
  void await(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what);
  void enter(const std::string& what);
  [[noreturn]] void fail(const std::string& what, const std::string& error);

  int rank_ = 0;
  int world_size_ = 1;
  std::chrono::milliseconds timeout_{0};
  int64_t sequence_ = 0;
  std::string current_;
  torch::Device device_ = torch::kCPU;
  bool left_ = false;
  std::unique_ptr<Distributed> dist_;
};

}  // namespace metaguard
