#include "train/train_setup.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <torch/torch.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/errors.hpp"
#include "core/shipped_files.hpp"
#include "model/gpt.hpp"
#include "model/model_catalog.hpp"
#include "core/shard_layout.hpp"
#include "program/init_program.hpp"
#include "train/batch_plan.hpp"
#include "train/run_checkpoint.hpp"
#include "walk/module_walker.hpp"

namespace metaguard {
namespace fs = std::filesystem;
namespace {

void check_ranges(const TrainOptions& o, int world_size) {
  if (o.nproc < 1) throw InputError(fmt::format("--nproc {}: must be at least 1", o.nproc));
  if (world_size < 1) throw InputError("world size: must be at least 1");
  if (o.steps < 1) throw InputError(fmt::format("--steps {}: must be at least 1", o.steps));
  if (o.seq_len < 1) throw InputError(fmt::format("--seq-len {}: must be at least 1", o.seq_len));
  if (o.micro_batch < 0) throw InputError(fmt::format("--micro-batch {}: must be at least 1", o.micro_batch));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw InputError(fmt::format("--lr {}: must be a positive number", o.lr));
  if (o.warmup < -1) throw InputError(fmt::format("--warmup {}: must be 0 or more", o.warmup));
  if (!(o.grad_clip >= 0) || !std::isfinite(o.grad_clip)) throw InputError("--grad-clip: must be 0 (off) or a positive number");
  if (o.eval_every < 1) throw InputError(fmt::format("--eval-every {}: must be at least 1", o.eval_every));
  if (o.eval_sequences < 1) throw InputError(fmt::format("--eval-sequences {}: must be at least 1", o.eval_sequences));
  if (o.save_every < 0) throw InputError(fmt::format("--save-every {}: must be 0 (at the end) or more", o.save_every));
  if (!(o.timeout > 0) || !std::isfinite(o.timeout) || o.timeout > 86400) {
    throw InputError("--timeout: must be a number of seconds in (0, 86400]");
  }
  if (o.threads < 0) throw InputError(fmt::format("--threads {}: must be 0 (automatic) or more", o.threads));
  if (o.master_port < 0 || o.master_port > 65535) throw InputError(fmt::format("--master-port {}: must be 0..65535", o.master_port));
}

void check_faults(const TrainSetup& setup) {
  for (Fault fault : setup.faults) {
    const std::string name(to_string(fault));
    if (setup.world_size < min_ranks(fault)) {
      throw InputError(fmt::format("--inject {}: needs several ranks (--nproc {} or more)", name, min_ranks(fault)));
    }
  }
  InitPlan plan;
  plan.world_size = setup.world_size;
  plan.meta_init = setup.meta_init;
  plan.shard = setup.shard;
  plan.faults = setup.faults;
  plan.checkpoint = setup.checkpoint.get();
  check_plan(plan, setup.config, setup.lora);
}

// The checkpoint files a --resume names must hold what this model needs, shape for shape.
void check_resume_files(const TrainSetup& setup, const std::string& dir, const RunState& state) {
  BuildOptions build;
  build.device = torch::kMeta;
  GPT model = build_gpt(setup.config, setup.lora, build);
  if (setup.lora) model->mark_only_lora_trainable();
  ModuleWalker walker(*model);
  Inventory inventory = walker.snapshot();
  auto open = [&](const std::string& relative) {
    return CheckpointFile::open((fs::path(dir) / relative).string());
  };
  CheckpointFile weights = open(state.weights);
  for (const auto& entry : weights.tensors()) {
    const TensorRecord* record = inventory.find(entry.name);
    if (!record) throw InputError(fmt::format("--resume '{}': '{}' holds '{}', which this model does not have", dir, weights.path(), entry.name));
    if (entry.shape != record->shape || entry.is_meta()) {
      throw InputError(fmt::format("--resume '{}': '{}' in '{}' is {} but the model's is {}", dir, entry.name, weights.path(),
                                   entry.is_meta() ? "meta" : fmt::format("{}", fmt::join(entry.shape, "x")),
                                   fmt::join(record->shape, "x")));
    }
  }
  CheckpointFile optimizer = open(state.optimizer);
  for (const auto& entry : optimizer.tensors()) {
    if (entry.is_meta()) throw InputError(fmt::format("--resume '{}': '{}' in '{}' has no data", dir, entry.name, optimizer.path()));
  }
}

void check_resume(TrainSetup& setup) {
  const TrainOptions& o = setup.options;
  RunState state = RunCheckpoint::read(o.resume);
  auto mismatch = [&](const char* what, const std::string& theirs, const std::string& ours) {
    return InputError(fmt::format("--resume '{}': that run used {} {}, this one {} (a resumed run must be the same run)",
                                  o.resume, what, theirs, ours));
  };
  if (state.config != gpt_config_to_json(setup.config)) {
    throw InputError(fmt::format("--resume '{}': its checkpoint is of model '{}', not of '{}' (configs differ)", o.resume,
                                 state.model, setup.config.name));
  }
  if (state.lora != setup.lora_spec()) throw mismatch("--lora", state.lora, setup.lora_spec());
  if (state.seed != o.seed) throw mismatch("--seed", std::to_string(state.seed), std::to_string(o.seed));
  if (state.global_batch != o.global_batch) {
    throw mismatch("--global-batch", std::to_string(state.global_batch), std::to_string(o.global_batch));
  }
  if (state.seq_len != o.seq_len) throw mismatch("--seq-len", std::to_string(state.seq_len), std::to_string(o.seq_len));
  if (state.data_fingerprint != setup.corpus->fingerprint()) {
    throw InputError(fmt::format("--resume '{}': that run trained on other data ('{}'); this one reads '{}'", o.resume,
                                 state.data, setup.data_path));
  }
  if (state.base_checkpoint != o.checkpoint) {
    throw mismatch("--checkpoint", state.base_checkpoint.empty() ? "none" : "'" + state.base_checkpoint + "'",
                   o.checkpoint.empty() ? "none" : "'" + o.checkpoint + "'");
  }
  if (state.step > o.steps) {
    throw InputError(fmt::format("--resume '{}': the checkpoint is at step {}, past --steps {}", o.resume, state.step, o.steps));
  }
  check_resume_files(setup, o.resume, state);
  setup.resume = std::move(state);
}

}  // namespace

std::string default_corpus_path() {
  for (const auto& dir : shipped_dirs("data", "METAGUARD_DATA_DIR")) {
    std::error_code error;
    fs::path candidate = dir / "corpus.txt";
    if (fs::is_regular_file(candidate, error)) return candidate.string();
  }
  return "";
}

TrainSetup prepare_training(const TrainOptions& options, int world_size, int local_world_size) {
  TrainSetup setup;
  setup.options = options;
  setup.world_size = world_size;
  check_ranges(options, world_size);

  auto policy = parse_guard_policy(options.on_meta);
  if (!policy) throw InputError(fmt::format("--on-meta '{}': expected off, warn, fail or repair", options.on_meta));
  setup.policy = *policy;
  ModelSource model = resolve_model(options.model);
  setup.config = model.config;
  setup.lora = parse_lora_spec(options.lora);
  check_lora_fits(setup.config, setup.lora);
  if (setup.config.padded_vocab_size < 256) {
    throw InputError(fmt::format("--model {}: its vocabulary ({} tokens) cannot hold the 256 byte-level tokens the trainer uses",
                                 setup.config.name, setup.config.padded_vocab_size));
  }
  if (options.seq_len > setup.config.block_size) {
    throw InputError(fmt::format("--seq-len {}: longer than the model's block size {}", options.seq_len, setup.config.block_size));
  }
  // Opening reads the file's metadata only; a bad file is the reader's InputError.
  // A LitGPT checkpoint directory given as --model brings its lit_model.pth.
  if (setup.options.checkpoint.empty()) setup.options.checkpoint = model.checkpoint;
  if (!setup.options.checkpoint.empty()) {
    setup.checkpoint = std::make_shared<const CheckpointFile>(CheckpointFile::open(setup.options.checkpoint));
  }
  setup.faults = parse_faults(options.inject);
  setup.shard = parse_shard_strategy(options.strategy);
  if (setup.shard && !setup.lora) {
    throw InputError("--strategy shard: shards the frozen base weights of a LoRA run; with --lora none every weight "
                     "trains (use --strategy replicate, or a --lora spec)");
  }
  const std::string& checkpointing = options.activation_checkpointing;
  if (checkpointing != "on" && checkpointing != "off" && checkpointing != "auto") {
    throw InputError(fmt::format("--activation-checkpointing '{}': expected on, off or auto", checkpointing));
  }
  if (checkpointing == "on" && !setup.shard) {
    throw InputError("--activation-checkpointing on: only --strategy shard recomputes activations (replicate keeps "
                     "them); add --strategy shard");
  }
  setup.checkpoint_activations = setup.shard && checkpointing != "off";
  // A sharded run builds on meta: no rank ever holds the whole model.
  setup.meta_init = world_size > 1 || setup.shard || any_needs_meta_build(setup.faults);
  check_faults(setup);

  setup.data_path = options.data.empty() ? default_corpus_path() : options.data;
  if (setup.data_path.empty()) {
    throw InputError("--data: not given, and the shipped corpus (fixtures/data/corpus.txt) was not found; pass --data FILE");
  }
  setup.corpus = std::make_shared<ByteCorpus>(ByteCorpus::load(setup.data_path, options.seq_len));

  BatchPlan plan(options.seed, options.global_batch, world_size, options.micro_batch, options.seq_len);
  setup.micro_batch = plan.micro_batch();
  setup.warmup = options.warmup >= 0 ? options.warmup : options.steps / 10;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  setup.threads = options.threads > 0 ? options.threads : std::max(1, cores / std::max(1, local_world_size));
  setup.placement = RunPlacement::resolve(options.device, options.backend, local_world_size);

  if (!options.resume.empty()) check_resume(setup);
  if (!options.out.empty()) {
    std::error_code error;
    if (fs::exists(options.out, error) && !fs::is_directory(options.out, error)) {
      throw InputError(fmt::format("--out '{}': exists and is not a directory", options.out));
    }
    const bool continues_here = !options.resume.empty() && fs::equivalent(options.out, options.resume, error);
    if (fs::exists(fs::path(options.out) / "run.json", error) && !continues_here) {
      throw InputError(fmt::format("--out '{}': holds the checkpoint of an earlier run (run.json); continue it with "
                                   "--resume {} or choose another directory",
                                   options.out, options.out));
    }
  }
  return setup;
}

}  // namespace metaguard
