#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "cli_support.hpp"
#include "core/errors.hpp"
#include "core/fault.hpp"
#include "core/shipped_files.hpp"
#include "torch/run_flags.hpp"
#include "torch/torch_commands.hpp"
#include "train/communicator.hpp"
#include "train/dist_env.hpp"
#include "train/launcher.hpp"
#include "train/stop_signal.hpp"
#include "train/train_setup.hpp"
#include "train/trainer.hpp"

namespace metaguard::cli {
namespace {

std::string own_path() {
  std::string self = executable_path().string();
  if (self.empty()) throw InputError("train: cannot find its own executable to start the ranks");
  return self;
}

// Prints the run's report on stdout in --format; returns the worse of the two exit codes.
int finish(const Report& report, const TrainOptions& options, int exit_code) {
  OutputOptions output;
  output.format = options.format;
  output.allow = options.allow;
  output.verbose = options.verbose;
  return std::max(exit_code, emit_report(report, output));
}

// One rank of a multi-rank run (started by metaguard's launcher or by torchrun).
int run_rank(const TrainOptions& options, const DistEnv& env) {
  install_stop_signal_handlers();
  TrainSetup setup = prepare_training(options, env.world_size, env.local_world_size);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout * 1000));
  int exit_code = 0;
  {
    // The rank's device is chosen (and made current) before any CUDA work.
    const torch::Device device = setup.placement.rank_device(env.local_rank);
    std::unique_ptr<Communicator> communicator;
    try {
      communicator = std::make_unique<Communicator>(env, timeout, setup.placement);
    } catch (const CollectiveFailure& failure) {
      std::cerr << "metaguard: rank " << env.rank << " stopped before training: " << failure.what() << std::endl;
      std::_Exit(1);
    }
    Trainer trainer(setup, *communicator, device);
    TrainResult result = trainer.run();
    exit_code = result.exit_code;
    // Started by torchrun, rank 0 prints the run's report; metaguard's launcher prints it itself.
    if (env.rank == 0 && result.run_report && !env.launched_by_metaguard) {
      exit_code = finish(*result.run_report, options, exit_code);
    }
    if (exit_code != 0) {
      // A broken process group can block in its destructor until its own timeout; the
      // reports are written, so leave at once.
      std::fflush(stdout);
      std::fflush(stderr);
      std::_Exit(exit_code);
    }
  }
  return exit_code;
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  TrainOptions o;
  std::string seed = std::to_string(o.seed);
  po::options_description flags("train options");
  add_run_flags(flags, {o.model, o.lora, o.inject, seed, o.strategy});
  flags.add_options()
      ("data", po::value(&o.data), "text file to train on (byte-level tokens); default: the shipped corpus fixtures/data/corpus.txt")
      ("nproc", po::value(&o.nproc)->default_value(o.nproc), "ranks to start on this machine (ignored when started as a rank by torchrun)")
      ("steps", po::value(&o.steps)->default_value(o.steps), "optimizer steps")
      ("global-batch", po::value(&o.global_batch)->default_value(o.global_batch), "sequences per optimizer step, summed over ranks (same optimization on 1 or N ranks)")
      ("micro-batch", po::value(&o.micro_batch)->default_value(o.micro_batch), "sequences per rank per forward; 0: global-batch / ranks")
      ("seq-len", po::value(&o.seq_len)->default_value(o.seq_len), "tokens per sequence")
      ("lr", po::value(&o.lr)->default_value(o.lr), "peak learning rate (AdamW)")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "warmup steps before the cosine decay; -1: steps / 10")
      ("grad-clip", po::value(&o.grad_clip)->default_value(o.grad_clip), "clip the averaged gradient to this L2 norm; 0: off")
      ("eval-every", po::value(&o.eval_every)->default_value(o.eval_every), "validate every N steps (and always before the first)")
      ("eval-sequences", po::value(&o.eval_sequences)->default_value(o.eval_sequences), "held-out sequences per validation")
      ("activation-checkpointing", po::value(&o.activation_checkpointing)->default_value(o.activation_checkpointing), "--strategy shard: on recomputes each block in backward (memory: each block's input kept), off keeps every activation (no recomputation, faster); auto: on under shard")
      ("on-meta", po::value(&o.on_meta)->default_value(o.on_meta), "at every guard point: off, warn, fail or repair")
      ("checkpoint", po::value(&o.checkpoint), "base weights rank 0 loads at the load phase (torch.save zip or safetensors; LoRA models map base keys)")
      ("out", po::value(&o.out), "run directory: rank<k>.json, report.json, run.json and checkpoints")
      ("resume", po::value(&o.resume), "continue the run whose --out directory this is (exactly where it stopped)")
      ("save-every", po::value(&o.save_every)->default_value(o.save_every), "checkpoint every N steps (with --out); 0: at the end only")
      ("save-full", po::bool_switch(&o.save_full), "checkpoints hold the whole model, not only the LoRA adapters")
      ("device", po::value(&o.device)->default_value(o.device), "where each rank computes: cpu, cuda (cuda:LOCAL_RANK) or auto (cuda when there is a GPU)")
      ("backend", po::value(&o.backend)->default_value(o.backend), "collectives: gloo, nccl (CUDA builds, one GPU per rank) or auto (nccl on cuda, else gloo)")
      ("timeout", po::value(&o.timeout)->default_value(o.timeout), "seconds any collective may take before the run stops naming the missing rank")
      ("threads", po::value(&o.threads)->default_value(o.threads), "intra-op threads per rank; 0: cores / ranks on this machine")
      ("master-port", po::value(&o.master_port)->default_value(o.master_port), "rendezvous port for --nproc > 1; 0: a free one")
      ("format", po::value(&o.format)->default_value(o.format), "run report on stdout: text, json, md, html, junit")
      ("verbose", po::bool_switch(&o.verbose), "text format: list every finding, not one paragraph per problem")
      ("allow", allow_globs_value(&o.allow), kAllowHelp);
  po::variables_map values;
  if (!parse_arguments("train", "metaguard train [options]", args, flags, {}, values)) return 0;
  o.seed = parse_seed(seed);

  if (auto env = DistEnv::from_environment()) return run_rank(o, *env);

  if (o.nproc == 1) {
    TrainSetup setup = prepare_training(o, 1, 1);
    install_stop_signal_handlers();
    Communicator communicator;
    Trainer trainer(setup, communicator, setup.placement.rank_device(0));
    TrainResult result = trainer.run();
    return finish(*result.run_report, o, result.exit_code);
  }

  // Several local ranks: check everything before starting any of them.
  TrainSetup setup = prepare_training(o, o.nproc, o.nproc);
  LaunchOptions launch;
  launch.nproc = o.nproc;
  launch.executable = own_path();
  launch.args = {"train"};
  launch.args.insert(launch.args.end(), args.begin(), args.end());
  launch.master_port = o.master_port;
  if (const char* port = std::getenv("MASTER_PORT"); port && *port && o.master_port == 0) {
    try {
      launch.master_port = std::stoi(port);
    } catch (const std::exception&) {
      throw InputError(fmt::format("environment variable MASTER_PORT: '{}' is not a port number", port));
    }
  }
  launch.timeout_seconds = o.timeout;
  launch.threads_per_rank = setup.threads;
  launch.out = o.out;
  LaunchResult result = Launcher(launch).run();
  if (!result.report) return result.exit_code;
  return finish(*result.report, o, result.exit_code);
}

}  // namespace metaguard::cli
