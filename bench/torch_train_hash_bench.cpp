// Benchmark of the trainer's cross-rank verification after the broadcast: every rank hashes
// its replicated tensors in parallel and one all-gather of a fixed-size hash vector
// compares them (train/replica_comparison.hpp); then the whole "broadcast" guard point
// (that comparison, the guard's own snapshot and checks, the agreement all-reduce).
//
// Usage: torch_train_hash_bench [--model tinyllama-1.1b] [--lora SPEC] [--ranks 2]
//                               [--threads N] [--repeat 3]
// Forks one process per rank; each builds the model on meta and gives every tensor real
// storage (filled, so the pages exist), connects over TCPStore + Gloo, and times. Prints
// one JSON line per rank. Needs the model's size in memory per rank (tinyllama: 4.4 GB).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/gpt.hpp"
#include "model/model_catalog.hpp"
#include "program/rank_session.hpp"
#include "repair/in_place.hpp"
#include "train/c10d_replicator.hpp"
#include "train/collective_guard.hpp"
#include "train/communicator.hpp"
#include "train/launcher.hpp"
#include "train/replica_comparison.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int run_rank(int rank, int ranks, int port, const std::string& model_name, const std::string& lora, int threads,
             int repeat) {
  torch::set_num_threads(threads);
  metaguard::GPTConfig config = metaguard::resolve_model_config(model_name);
  metaguard::BuildOptions build;
  build.device = torch::kMeta;
  metaguard::GPT model = metaguard::build_gpt(config, metaguard::parse_lora_spec(lora), build);
  model->mark_only_lora_trainable();
  metaguard::GuardConfig guard_config;
  guard_config.repair.threads = threads;
  metaguard::RankSession session(rank, model, /*dry_run=*/false, guard_config);

  auto start = Clock::now();
  int64_t bytes = 0;
  {
    torch::NoGradGuard no_grad;
    session.walker().snapshot();
    for (auto& live : session.walker().tensors()) {
      if (!live.tensor.defined() || !live.tensor.is_meta()) continue;
      metaguard::swap_in_place(live.tensor, torch::empty(live.tensor.sizes(), live.tensor.options().device(torch::kCPU)));
      live.tensor.fill_(0.25);  // the same values on every rank: the replicas agree
      bytes += live.tensor.nbytes();
    }
  }
  const double fill_seconds = seconds_since(start);

  metaguard::DistEnv env;
  env.rank = rank;
  env.world_size = ranks;
  env.local_rank = rank;
  env.local_world_size = ranks;
  env.master_port = port;
  metaguard::Communicator communicator(env, std::chrono::seconds(300), metaguard::RunPlacement{});
  metaguard::C10dReplicator replicator(communicator, torch::kCPU);
  metaguard::CollectiveGuard guard(session, communicator, replicator, threads);

  std::vector<double> totals, hashes, exchanges, points;
  size_t tensors = 0;
  for (int i = 0; i < repeat; ++i) {
    torch::Tensor sync = torch::zeros({1});
    communicator.all_reduce_sum(sync, "line up");
    start = Clock::now();
    metaguard::ReplicaComparison comparison = metaguard::compare_replicas(session.walker(), communicator, threads);
    totals.push_back(seconds_since(start));
    hashes.push_back(comparison.hash_seconds);
    exchanges.push_back(comparison.exchange_seconds);
    tensors = comparison.inventories.front().size();
    if (!comparison.divergent.empty()) {
      std::cerr << "rank " << rank << ": unexpected divergence\n";
      return 1;
    }
    communicator.all_reduce_sum(sync, "line up");
    start = Clock::now();
    metaguard::GuardExtras options;
    options.compare_replicas = true;
    guard.run("broadcast", metaguard::DataNeeds::persistent(), options);
    points.push_back(seconds_since(start));
  }
  nlohmann::json line = {{"rank", rank},
                         {"model", config.name},
                         {"lora", lora},
                         {"tensors", tensors},
                         {"gigabytes", static_cast<double>(bytes) / 1e9},
                         {"threads", threads},
                         {"fill_seconds", fill_seconds},
                         {"compare_seconds_median", median(totals)},
                         {"hash_seconds_median", median(hashes)},
                         {"exchange_seconds_median", median(exchanges)},
                         {"guard_point_seconds_median", median(points)},
                         {"compare_seconds", totals},
                         {"guard_point_seconds", points}};
  std::cout << line.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "tinyllama-1.1b";
  std::string lora = "r=8,alpha=16,dropout=0,targets=query+value";
  int ranks = 2, repeat = 3;
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") model = value;
    else if (flag == "--lora") lora = value;
    else if (flag == "--ranks") ranks = std::stoi(value);
    else if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--repeat") repeat = std::stoi(value);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  const int port = metaguard::pick_free_port();
  std::vector<pid_t> children;
  for (int rank = 0; rank < ranks; ++rank) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int code = 1;
      try {
        code = run_rank(rank, ranks, port, model, lora, threads, repeat);
      } catch (const std::exception& error) {
        std::cerr << "rank " << rank << ": " << error.what() << "\n";
      }
      std::cout.flush();
      ::_exit(code);
    }
    children.push_back(pid);
  }
  int worst = 0;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    worst = std::max(worst, WIFEXITED(status) ? WEXITSTATUS(status) : 1);
  }
  return worst;
}
