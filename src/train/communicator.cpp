#include "train/communicator.hpp"

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <torch/torch.h>

// Debian's LibTorch is built with Gloo, but its header hides the class unless the build
// says so (LibTorch's own CMake sets this for its sources only).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef METAGUARD_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "compat/torch_compat.hpp"
#include "core/errors.hpp"
#include "train/failure_diagnosis.hpp"
#include "train/heartbeat.hpp"
#include "train/host_identity.hpp"
#include "train/side_channel.hpp"
#include "train/store_read_timeout.hpp"

namespace metaguard {
namespace {

constexpr auto kHeartbeatInterval = Heartbeat::kInterval;

constexpr auto kWaitSlice = std::chrono::milliseconds(20);

// The side channel's own timeout (at most the run's): a rank that lost its link to the store's
// host must not spend a whole collective timeout on each diagnosis read, announcement or result
// it sends there (seen across two hosts: 16 s to exit instead of 8, docs/RELIABILITY.md).
constexpr auto kSideChannelTimeout = std::chrono::milliseconds(2000);

// How long the store rank 0 hosts waits for the rest of a request before it drops the
// connection: well inside the run's timeout, so that the store serves again (see
// store_read_timeout.hpp) before the collective a cut link stopped times out and ranks diagnose.
std::chrono::milliseconds store_read_limit(std::chrono::milliseconds timeout) {
  return std::clamp<std::chrono::milliseconds>(timeout / 2, std::chrono::seconds(1), std::chrono::seconds(10));
}

// Rank 0 serves the rendezvous store, except under torchrun's agent store, where the agent does.
bool hosts_store(const DistEnv& env) { return env.rank == 0 && !env.agent_store; }

std::string error_text(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) return c10_error->what_without_backtrace();
  return error.what();
}

bool is_loopback(const std::string& address) {
  return address == "127.0.0.1" || address == "localhost" || address == "::1";
}

}  // namespace

struct Communicator::Distributed {
  DistEnv env;
  CollectiveBackendKind backend = CollectiveBackendKind::Gloo;
  // Every key this run writes starts with it. Under torchrun's agent store it carries the
  // run id and restart count, so a restarted group never reads a key of the attempt before.
  std::string key_prefix = "metaguard";
  c10::intrusive_ptr<c10d::TCPStore> store;  // rank 0 hosts the server inside this object
  SideChannel side;                          // failures, diagnosis, hosts and results
  c10::intrusive_ptr<compat::CollectiveBackend> group;
  // Declared last, so destroyed first: it stops before anything it reports on goes away,
  // also when the constructor of the Communicator throws halfway.
  std::unique_ptr<Heartbeat> heartbeat;
};

Communicator::Communicator() = default;

Communicator::Communicator(const DistEnv& env, std::chrono::milliseconds timeout, const RunPlacement& placement)
    : rank_(env.rank), world_size_(env.world_size), timeout_(timeout), dist_(std::make_unique<Distributed>()) {
  if (world_size_ == 1) {
    dist_.reset();
    return;
  }
  dist_->env = env;
  dist_->backend = placement.backend;
  if (placement.backend == CollectiveBackendKind::Nccl) {
    // NCCL's watchdog tears the process down on a timeout or error (torchrun sets
    // TORCH_NCCL_ASYNC_ERROR_HANDLING=1, the library default is 3), maybe before this rank
    // has written its report. 2 (CleanUpOnly) aborts the communicators and keeps the process;
    // the heartbeat monitor would kill a stuck watchdog, so it is off. Set before the process
    // group exists, and before this process starts a thread (setenv is not thread-safe).
    setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", 1);
    setenv("TORCH_NCCL_ENABLE_MONITORING", "0", 1);
  }
  if (env.agent_store) {
    dist_->key_prefix = fmt::format("metaguard/{}/{}", env.run_id.empty() ? "run" : env.run_id, env.restart_count);
  }
  connect_store();
  dist_->side.set("host", rank_, describe_this_host());
  enter("connect the process group");
  try {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(dist_->key_prefix + "-pg", dist_->store);
    if (placement.backend == CollectiveBackendKind::Nccl) {
      connect_nccl(prefixed, placement);
    } else {
      connect_gloo(prefixed);
    }
    // Where collectives' tensors live: the placement decides (Gloo stages CUDA tensors
    // through the host; NCCL takes them on the rank's GPU).
    device_ = placement.transport_device(env.local_rank);
    // A peer's store connection accepted before the listening socket was set (connect_store)
    // exists by now (each rank connects before it joins the group); later ones inherited it.
    if (hosts_store(env)) apply_store_read_timeout(env.master_port, store_read_limit(timeout_));
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& error) {
    fail("connect the process group", error_text(error));
  }
}

void Communicator::connect_store() {
  const DistEnv& env = dist_->env;
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(env.master_port);
  // Under torchrun's agent store the agent serves MASTER_PORT; binding it would fail.
  options.isServer = hosts_store(env);
  options.numWorkers = static_cast<size_t>(env.world_size);
  options.waitWorkers = false;
  options.timeout = timeout_;
  try {
    dist_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    if (options.isServer) apply_store_read_timeout(env.master_port, store_read_limit(timeout_));
    // Two more connections, each connecting within the run's timeout (a lossy link can lose
    // the SYN: seen in the two-host test at 5% loss with a 2 s connect), then bounded per call.
    c10d::TCPStoreOptions side_options = options;
    side_options.isServer = false;
    const auto call_limit = std::min<std::chrono::milliseconds>(timeout_, kSideChannelTimeout);
    dist_->side = SideChannel(env.master_addr, side_options, dist_->key_prefix, call_limit);
    dist_->heartbeat =
        std::make_unique<Heartbeat>(env.master_addr, side_options, dist_->side.key("heartbeat", env.rank), call_limit);
  } catch (const std::exception& error) {
    if (options.isServer) {
      throw InputError(fmt::format("MASTER_PORT {}: rank 0 cannot host the rendezvous store on {}:{} ({}); is the port "
                                   "already in use? Pick another one",
                                   env.master_port, env.master_addr, env.master_port, error_text(error)));
    }
    const std::string host = env.agent_store ? "torchrun's agent" : "rank 0";
    throw CollectiveFailure("rendezvous", env.agent_store ? std::vector<int>{} : std::vector<int>{0},
                            fmt::format("rank {} could not reach the rendezvous store of {} at {}:{} within {} s: {}",
                                        env.rank, host, env.master_addr, env.master_port, timeout_.count() / 1000.0,
                                        error_text(error)));
  }
}

void Communicator::connect_gloo(const c10::intrusive_ptr<c10d::Store>& store) {
  const DistEnv& env = dist_->env;
  auto gloo = c10d::ProcessGroupGloo::Options::create(timeout_);
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  } else if (is_loopback(env.master_addr)) {
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  dist_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, gloo);
}

void Communicator::connect_nccl(const c10::intrusive_ptr<c10d::Store>& store, const RunPlacement& placement) {
#ifdef METAGUARD_CUDA
  const DistEnv& env = dist_->env;
  placement.rank_device(env.local_rank);  // makes the rank's GPU current before NCCL starts
  auto nccl = c10d::ProcessGroupNCCL::Options::create();
  nccl->timeout = timeout_;
  dist_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, nccl);
#else
  (void)store;
  (void)placement;
  throw InputError("--backend nccl: this metaguard was built without NCCL (see 'metaguard --version')");
#endif
}

Communicator::~Communicator() = default;  // Distributed stops its heartbeat first

void Communicator::enter(const std::string& what) {
  ++sequence_;
  current_ = what;
  if (left_) fail(what, "this rank already left the process group");
  // On the main connection: a set only sends (no reply to wait for), so it needs no bounded
  // call, and a healthy run pays no thread per collective.
  try {
    const std::string progress = fmt::format("{}|{}", sequence_, what);
    dist_->store->set(dist_->side.key("progress", rank_), std::vector<uint8_t>(progress.begin(), progress.end()));
  } catch (const std::exception& error) {
    fail(what, error_text(error));
  }
}

void Communicator::broadcast(torch::Tensor& tensor, const std::string& what) {
  if (!dist_) return;
  torch::NoGradGuard no_grad;  // collectives write data, not autograd history
  enter(what);
  try {
    std::vector<at::Tensor> tensors{tensor.device() == device_ ? tensor : tensor.to(device_)};
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    options.timeout = timeout_;
    await(dist_->group->broadcast(tensors, options), what);
    if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
  } catch (const std::exception& error) {
    fail(what, error_text(error));
  }
}

void Communicator::all_reduce_sum(torch::Tensor& tensor, const std::string& what) {
  if (!dist_) return;
  torch::NoGradGuard no_grad;  // collectives write data, not autograd history
  enter(what);
  try {
    std::vector<at::Tensor> tensors{tensor.device() == device_ ? tensor : tensor.to(device_)};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = timeout_;
    await(dist_->group->allreduce(tensors, options), what);
    if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
  } catch (const std::exception& error) {
    fail(what, error_text(error));
  }
}

std::vector<torch::Tensor> Communicator::all_gather(const torch::Tensor& tensor, const std::string& what) {
  if (!dist_) return {tensor.clone()};
  std::vector<torch::Tensor> outputs;
  for (int r = 0; r < world_size_; ++r) outputs.push_back(torch::empty(tensor.sizes(), tensor.options()));
  all_gather_into(tensor.contiguous(), outputs, what);
  return outputs;
}

void Communicator::all_gather_into(const torch::Tensor& input, std::vector<torch::Tensor>& outputs,
                                   const std::string& what) {
  if (!dist_) {
    outputs.at(0).copy_(input);
    return;
  }
  enter(what);
  // Straight into the caller's buffers when they live where the backend works (Gloo and a
  // CPU run, NCCL and a GPU run); through staging copies otherwise.
  const bool direct = input.device() == device_;
  std::vector<std::vector<at::Tensor>> staged(1);
  for (const auto& output : outputs) staged[0].push_back(direct ? output : torch::empty_like(output, output.options().device(device_)));
  try {
    std::vector<at::Tensor> inputs{input.to(device_).contiguous()};
    c10d::AllgatherOptions options;
    options.timeout = timeout_;
    await(dist_->group->allgather(staged, inputs, options), what);
  } catch (const std::exception& error) {
    fail(what, error_text(error));
  }
  if (!direct) {
    for (size_t r = 0; r < outputs.size(); ++r) outputs[r].copy_(staged[0][r]);
  }
}

void Communicator::await(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
  if (dist_->backend == CollectiveBackendKind::Gloo) {
    work->wait(timeout_);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  auto next_look = start + kHeartbeatInterval;
  auto pause = std::chrono::microseconds(20);  // short first: most collectives finish in well under a millisecond
  while (!work->isCompleted()) {
    const auto now = std::chrono::steady_clock::now();
    if (now - start > timeout_) {
      throw std::runtime_error(fmt::format("the collective did not complete within {} s", timeout_.count() / 1000.0));
    }
    if (now >= next_look) {  // a peer that stopped on its own will never arrive: no need to wait it out
      next_look = now + kHeartbeatInterval;
      for (int r = 0; r < world_size_; ++r) {
        if (r != rank_ && dist_->side.get("failed", r)) {
          throw std::runtime_error(fmt::format("rank {} announced that it stopped", r));
        }
      }
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(2 * pause, kWaitSlice);
  }
  work->wait();  // rethrows the collective's own error, if any
}

void Communicator::fail(const std::string& what, const std::string& error) {
  if (dist_->backend == CollectiveBackendKind::Nccl && dist_->group) {
    // NCCL kernels of this collective may still wait for the missing peer: abort the
    // communicators so nothing blocks while this rank diagnoses and writes its report.
    try {
      compat::abort_backend(*dist_->group);
    } catch (...) {
    }
  }
  std::vector<int> missing;
  std::vector<std::string> lines;
  try {
    FailureDiagnosis diagnosis = diagnose_failure(dist_->side, rank_, world_size_, sequence_);
    missing = std::move(diagnosis.missing);
    lines = std::move(diagnosis.lines);
  } catch (const std::exception&) {
    // The store no longer answers (the side channel then sends nothing more).
    if (dist_->env.agent_store) {
      lines = {fmt::format("torchrun's agent store at {}:{} no longer answers (the agent or its host is gone)",
                           dist_->env.master_addr, dist_->env.master_port)};
    } else if (rank_ != 0) {
      missing = {0};
      lines = {fmt::format("rank 0 is gone: the rendezvous store it hosts at {}:{} no longer answers (rank 0 or "
                           "its host is down, or the link to it)",
                           dist_->env.master_addr, dist_->env.master_port)};
    }
  }
  if (lines.empty()) lines.push_back("every rank is alive and reached it; the transport failed");
  throw CollectiveFailure(what, missing,
                          fmt::format("collective #{} ({}) failed on rank {} (timeout {} s): {}. Cause seen here: {}",
                                      sequence_, what, rank_, timeout_.count() / 1000.0, fmt::join(lines, "; "), error));
}

void Communicator::leave() noexcept {
  if (!dist_) return;
  left_ = true;
  try {
    dist_->group.reset();  // closes this rank's Gloo connections
  } catch (...) {
  }
}

void Communicator::announce_failure(const std::string& reason) noexcept {
  if (dist_) dist_->side.set("failed", rank_, reason);
}

void Communicator::post_result(const std::string& text) noexcept {
  if (dist_) dist_->side.set("result", rank_, text);
}

std::map<int, std::string> Communicator::collect_results(const std::set<int>& skip) {
  std::map<int, std::string> results;
  if (!dist_) return results;
  // Peers that stop in the same collective post after their own timeout and diagnosis; the
  // store (hosted here on rank 0) stays up for them until then. A peer whose heartbeat stops
  // meanwhile is not waited for.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout_ + 2 * dist_->side.timeout() + 4 * kHeartbeatInterval;
  std::map<int, std::pair<int64_t, std::chrono::steady_clock::time_point>> last_beat;
  std::set<int> pending;
  for (int r = 0; r < world_size_; ++r) {
    if (r != rank_ && !skip.count(r)) pending.insert(r);
  }
  try {
    while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
      for (auto it = pending.begin(); it != pending.end();) {
        const auto now = std::chrono::steady_clock::now();
        if (auto value = dist_->side.get("result", *it)) {
          results[*it] = *value;
          it = pending.erase(it);
          continue;
        }
        const int64_t beat = dist_->side.counter("heartbeat", *it);
        auto [seen, entry] = last_beat.try_emplace(*it, beat, now);
        if (!entry && seen->second.first != beat) seen->second = {beat, now};
        it = now - seen->second.second > 3 * kHeartbeatInterval ? pending.erase(it) : std::next(it);
      }
      if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (const std::exception&) {
    // The store stopped answering: the ranks not heard from are reported silent.
  }
  return results;
}

}  // namespace metaguard
