#include "train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <malloc.h>
#include <map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <torch/torch.h>

#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "core/hashing.hpp"
#include "core/yaml_document.hpp"
#include "checks/memory_budget.hpp"
#include "load/checkpoint_saver.hpp"
#include "load/qkv_layout.hpp"
#include "program/phase_program.hpp"
#include "report/report_json.hpp"
#include "train/frozen_weights_hash.hpp"
#include "train/stop_signal.hpp"
#include "walk/module_registries.hpp"

namespace metaguard {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string error_text(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) return c10_error->what_without_backtrace();
  return error.what();
}

GuardConfig guard_config(const TrainSetup& setup, torch::Device device) {
  GuardConfig config;
  config.policy = setup.policy;
  config.allow = setup.options.allow;
  config.lora_run = setup.lora.has_value();
  config.repair.seed = setup.options.seed;
  config.repair.threads = setup.threads;
  config.repair.device = device;
  return config;
}

}  // namespace

Trainer::Trainer(const TrainSetup& setup, Communicator& communicator, torch::Device device)
    : setup_(setup),
      communicator_(communicator),
      device_(device),
      rank_(communicator.rank()),
      world_(communicator.world_size()),
      plan_(setup.options.seed, setup.options.global_batch, communicator.world_size(), setup.micro_batch,
            setup.options.seq_len),
      validation_(*setup.corpus, setup.options.seq_len, setup.options.eval_sequences),
      schedule_(setup.options.lr, setup.warmup, setup.options.steps),
      knobs_(TestKnobs::from_environment()),
      printer_(communicator.rank() == 0, stderr_is_terminal(), setup.options.steps) {
  if (setup.shard) {
    // A sharded rank frees a whole weight after each init and each gather. glibc raises its
    // mmap threshold after such frees (up to 32 MiB), so later buffers of that size come
    // from the heap and stay in the process once freed: ~300 MB more RSS on TinyLlama.
    // A fixed threshold keeps every buffer from 8 MiB up in its own mapping, returned on free.
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
  }
}

Trainer::~Trainer() = default;

void Trainer::log(const std::string& text) const {
  // Rank 0 speaks for the run; other ranks only about themselves (warnings, their stop).
  std::cerr << text << std::endl;
}

void Trainer::loop_guard_point(const std::string& phase) {
  phase_ = phase;
  GuardExtras extras;
  extras.optimizer = &optimizer_entries_;
  guard_point(phase, DataNeeds::all(), extras);
}

void Trainer::guard_point(const std::string& phase, DataNeeds needs, const GuardExtras& extras) {
  std::vector<Finding> findings = guard_->run(phase, needs, extras);
  std::map<std::string, int> repaired;
  std::vector<const Finding*> open;
  for (const auto& finding : findings) {
    if (finding.repaired) ++repaired[finding.code];
    else if (!finding.allowed && finding.severity != Severity::Info) open.push_back(&finding);
  }
  if (!repaired.empty()) {
    std::vector<std::string> counts;
    for (const auto& [code, count] : repaired) counts.push_back(fmt::format("{} x {}", count, code));
    log(fmt::format("rank {}: repaired at {} and verified across ranks: {}", rank_, phase, fmt::join(counts, ", ")));
  }
  constexpr size_t kShown = 8;
  for (size_t i = 0; i < open.size() && i < kShown; ++i) {
    log(fmt::format("rank {}: warning at {}: [{}] {}", rank_, phase, open[i]->code, open[i]->message));
  }
  if (open.size() > kShown) log(fmt::format("rank {}: ... and {} more warnings at {}", rank_, open.size() - kShown, phase));
}

void Trainer::build() {
  phase_ = "init";
  BuildOptions build;
  build.device = setup_.meta_init ? torch::kMeta : device_;
  build.seed = setup_.options.seed;
  build.init_threads = setup_.threads;
  GPT model = build_gpt(setup_.config, setup_.lora, build);
  if (setup_.lora) model->mark_only_lora_trainable();
  session_ = std::make_unique<RankSession>(rank_, std::move(model), /*dry_run=*/false, guard_config(setup_, device_));
  replicator_ = std::make_unique<C10dReplicator>(communicator_, device_);
  guard_ = std::make_unique<CollectiveGuard>(*session_, communicator_, *replicator_, setup_.threads);
}

InitPlan Trainer::init_plan() {
  InitPlan plan;
  plan.world_size = world_;
  plan.meta_init = setup_.meta_init;
  plan.seed = setup_.options.seed;
  plan.faults = setup_.faults;
  plan.device = device_;
  plan.threads = setup_.threads;
  plan.checkpoint = setup_.checkpoint.get();
  plan.shard = setup_.shard;
  plan.slice_collective = replicator_.get();
  if (setup_.resume) {
    plan.resume = [this](RankSession& session) {
      auto loaded = RunCheckpoint::load_weights(setup_.options.resume, *setup_.resume, session, device_, replicator_.get());
      log(fmt::format("resumed {} tensors ({:.1f} MB) from {} (step {})", loaded.loaded.size(),
                      static_cast<double>(loaded.bytes_read) / 1e6, setup_.options.resume, setup_.resume->step));
    };
  }
  return plan;
}

// The trainer runs the initialization program (program/phase_program.hpp) for its own rank:
// every step on this rank's device (cuda:LOCAL_RANK or the CPU), every check collective.
void Trainer::initialize() { run_program(init_plan()); }

void Trainer::check_phase(const ProgramPhase& phase, const InitPlan& plan) {
  if (phase.first_forward) return;  // the first validation checks it, optimizer included (train())
  GuardExtras extras;
  extras.compare_replicas = phase.check == PhaseCheck::AcrossRanks;
  if (phase.names_target_device) extras.target_device = plan.device.str();
  guard_point(std::string(to_string(phase.phase)), phase.needs(plan, rank_), extras);
}

void Trainer::finished(const ProgramPhase& phase) {
  if (phase.phase == Phase::Init && session_->shards()) {
    // What an FSDP2 run gets wrong (pytorch#164554): said for every empty slice, a warning.
    session_->keep(empty_shard_findings({session_->shards()->row()}, world_, "init"));
  }
  if (phase.phase == Phase::Load) {
    const LoadResult& loaded = session_->loaded();
    if (!loaded.loaded.empty()) {
      log(fmt::format("rank {}: loaded {} tensors ({:.1f} MB) from {}", rank_, loaded.loaded.size(),
                      static_cast<double>(loaded.bytes_read) / 1e6, setup_.checkpoint->path()));
    }
  }
  const auto& comparison = guard_->last_comparison();
  if (phase.phase == Phase::Broadcast && rank_ == 0 && !comparison.inventories.empty()) {
    log(fmt::format("broadcast verified: content hashes of {} tensors compared across {} ranks ({:.3f} s hashing, "
                    "{:.3f} s exchange)",
                    comparison.inventories.front().size(), world_, comparison.hash_seconds, comparison.exchange_seconds));
  }
}

void Trainer::fingerprint_frozen_weights() {
  frozen_hash_ = frozen_weights_hash(*session_, communicator_);
  if (frozen_hash_ && rank_ == 0) {
    log(fmt::format("frozen weights: hash {:016x}{}", *frozen_hash_,
                    session_->shards() ? fmt::format(" (each weight's combined from its slices on {} ranks)", world_) : ""));
  }
}

void Trainer::prepare_optimizer() {
  if (optimizer_) return;  // built early (optimizer-before-replace)
  session_->walker().refresh();
  std::unordered_set<const c10::TensorImpl*> seen;
  std::vector<torch::Tensor> parameters;
  for (const auto& live : session_->walker().tensors()) {
    if (live.kind != TensorKind::Parameter || !live.tensor.defined() || !live.tensor.requires_grad()) continue;
    if (!seen.insert(live.tensor.unsafeGetTensorImpl()).second) continue;
    trainable_.emplace_back(live.name, live.tensor);
    parameters.push_back(live.tensor);
  }
  if (parameters.empty()) throw InputError("--lora: the model has no trainable parameter");
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      parameters, torch::optim::AdamWOptions(setup_.options.lr).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0));
  if (setup_.resume) RunCheckpoint::load_optimizer(setup_.options.resume, *setup_.resume, *optimizer_, trainable_);
  buckets_ = std::make_unique<GradientBuckets>(parameters, /*extra_slots=*/2);
  head_loss_ = std::make_unique<FusedHeadLoss>(session_->model());
  if (ShardedTensors* shards = session_->shards()) {
    sharded_loss_ = std::make_unique<ShardedLoss>(session_->model(), *head_loss_, *shards, *replicator_,
                                                  setup_.checkpoint_activations);
  }
  refresh_optimizer_entries();
}

void Trainer::refresh_optimizer_entries() {
  optimizer_entries_.clear();
  int64_t index = 0;
  for (const auto& group : optimizer_->param_groups()) {
    for (const auto& parameter : group.params()) {
      OptimizerEntry entry;
      entry.label = fmt::format("param_groups[0][{}]", index);
      entry.expected_name = index < static_cast<int64_t>(trainable_.size()) ? trainable_[index].first : "";
      entry.tensor_key = reinterpret_cast<uint64_t>(parameter.unsafeGetTensorImpl());
      entry.device = parameter.device().str();
      optimizer_entries_.push_back(std::move(entry));
      ++index;
    }
  }
}

torch::Tensor Trainer::loss(const torch::Tensor& tokens, torch::Tensor* per_sequence) {
  return sharded_loss_ ? sharded_loss_->loss(tokens, per_sequence) : head_loss_->loss(tokens, per_sequence);
}

void Trainer::with_whole_model(const std::function<void()>& write) {
  ShardedTensors* shards = session_->shards();
  if (!shards) {
    if (rank_ == 0) write();
    return;
  }
  // Rank 0 gathers every unit and keeps it (FSDP's full state dict on rank 0); the others
  // only take part in the gathers.
  for (const auto& unit : shards->units()) {
    shards->gather(unit, *replicator_);
    if (rank_ != 0) shards->release(unit);
  }
  if (rank_ != 0) return;
  auto release_all = [shards] {
    for (const auto& unit : shards->units()) shards->release(unit);
  };
  try {
    write();
  } catch (...) {
    release_all();
    throw;
  }
  release_all();
}

double Trainer::validate(int64_t step) {
  loop_guard_point("before-validation");
  phase_ = "validation";
  auto start = Clock::now();

  GPT& model = session_->model();
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor sum = torch::zeros({1}, torch::kFloat64);
  std::vector<torch::Tensor> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    torch::Tensor tokens = torch::cat(batch).to(device_);  // (B, T + 1)
    torch::Tensor per_sequence;                                           // (B) float64
    loss(tokens, &per_sequence);
    sum += per_sequence.sum().to(torch::kCPU);
    batch.clear();
  };
  for (int64_t k = rank_; k < validation_.sequences; k += world_) {
    batch.push_back(validation_.window(*setup_.corpus, k));
    if (static_cast<int64_t>(batch.size()) == plan_.micro_batch()) flush();
  }
  flush();
  model->train();
  validation_seconds_ += seconds_since(start);
  communicator_.all_reduce_sum(sum, fmt::format("all-reduce validation loss at step {}", step));
  const double loss = sum.item<double>() / static_cast<double>(validation_.sequences);
  // The history keeps the scheduled validations (step 0, every --eval-every, the last), so
  // a resumed run's equals the uninterrupted run's; the one a resume starts with is logged.
  const bool scheduled = step == 0 || step % setup_.options.eval_every == 0 || step == setup_.options.steps;
  bool known = false;
  for (const auto& v : val_losses_) known = known || v.step == step;
  if (scheduled && !known) val_losses_.push_back({step, loss});
  printer_.line(fmt::format("validation at step {}: loss {:.4f} ({} held-out sequences)", step, loss, validation_.sequences));
  return loss;
}

void Trainer::save(int64_t step) {
  loop_guard_point("before-save");
  const bool full = setup_.options.save_full || !setup_.lora;
  if (full) {
    with_whole_model([this, step] { write_checkpoint(step, true); });
  } else if (rank_ == 0) {
    write_checkpoint(step, false);
  }
}

void Trainer::write_checkpoint(int64_t step, bool full) {
  RunState state;
  state.model = setup_.config.name;
  state.config = gpt_config_to_json(setup_.config);
  state.lora = setup_.lora_spec();
  state.seed = setup_.options.seed;
  state.global_batch = setup_.options.global_batch;
  state.seq_len = setup_.options.seq_len;
  state.data = setup_.data_path;
  state.data_fingerprint = setup_.corpus->fingerprint();
  state.base_checkpoint = setup_.options.checkpoint;
  state.step = step;
  state.world_size = world_;
  state.full = full;
  state.losses = losses_;
  state.val_losses = val_losses_;
  NamedTensors weights;
  session_->walker().refresh();
  for (const auto& live : session_->walker().tensors()) {
    if (!live.tensor.defined()) continue;
    const bool adapter = live.kind == TensorKind::Parameter && is_lora_parameter_name(live.name);
    if (state.full ? is_persistent(live.kind) : adapter) weights.emplace_back(live.name, live.tensor);
  }
  RunCheckpoint::save(setup_.options.out, state, weights, *optimizer_, trainable_);
  last_checkpoint_ = (fs::path(setup_.options.out) / "run.json").string();
  printer_.line(fmt::format("checkpoint at step {}: {} ({} tensors{})", step, setup_.options.out, weights.size(),
                            state.full ? ", whole model" : ", adapters"));
}

void Trainer::export_final() {
  with_whole_model([this] { write_final(); });
}

void Trainer::write_final() {
  const fs::path dir = fs::path(setup_.options.out) / "final";
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw InputError(fmt::format("--out '{}': cannot create '{}': {}", setup_.options.out, dir.string(), error.message()));
  // The layout of the checkpoint the run started from, LitGPT's current one otherwise.
  SaveOptions options;
  if (setup_.checkpoint) {
    std::vector<std::string> keys;
    for (const auto& entry : setup_.checkpoint->tensors()) keys.push_back(entry.name);
    options.layout = detect_qkv_layout(keys);
  }
  GPT& model = session_->model();
  torch::NoGradGuard no_grad;
  if (setup_.lora) {
    // What LitGPT's finetune_lora writes: the adapters, then the merged model (merge_lora).
    SaveOptions adapters = options;
    adapters.lora_only = true;
    save_checkpoint(*model, (dir / "lit_model.pth.lora").string(), adapters);
    SaveOptions merged = options;
    merged.base_model_keys = true;
    model->merge_lora();
    try {
      save_checkpoint(*model, (dir / "lit_model.pth").string(), merged);
    } catch (...) {
      model->unmerge_lora();  // the model leaves as it came, whatever the disk said
      throw;
    }
    model->unmerge_lora();
  } else {
    save_checkpoint(*model, (dir / "lit_model.pth").string(), options);
  }
  write_file_atomically((dir / "model_config.yaml").string(), yaml_from_json(litgpt_config_json(setup_.config)));
  printer_.line(fmt::format("LitGPT checkpoint: {} ({} layout{})", dir.string(),
                            options.layout == QkvLayout::Grouped ? "attn.qkv" : "attn.attn",
                            setup_.lora ? ", adapters and merged model" : ""));
}

void Trainer::train_step(int64_t step) {
  const int64_t micro = plan_.micro_batch();
  const double share = static_cast<double>(micro) / static_cast<double>(plan_.global_batch());
  // Dropout draws from torch's generator: seeded from (seed, step, rank), so a resumed run
  // draws what the uninterrupted one drew.
  torch::manual_seed(tensor_seed(setup_.options.seed, "step-rng", static_cast<uint64_t>(step) * 65536 + rank_));
  buckets_->zero();
  for (int64_t m = 0; m < plan_.micro_steps(); ++m) {
    // (B, T + 1): inputs and next-token targets
    torch::Tensor tokens = plan_.micro_batch_tokens(*setup_.corpus, step, rank_, m).to(device_);
    torch::Tensor loss = this->loss(tokens);  // mean over the B * T tokens
    (loss * share).backward();  // the gradient of this micro-batch's share of the global mean
    buckets_->extra(0) += loss.item<double>() * static_cast<double>(micro);
    buckets_->accumulate();
  }
  buckets_->extra(1) = stop_requested() ? 1.0 : 0.0;
  buckets_->all_reduce(communicator_, step);

  const double global_loss = buckets_->extra(0) / static_cast<double>(plan_.global_batch());
  if (!std::isfinite(global_loss)) {
    Finding finding;
    finding.code = "nonfinite-values";
    finding.severity = Severity::Error;
    finding.phase = "train";
    finding.message = fmt::format("The training loss is {} at step {}: the weights or the data produce non-finite values.",
                                  global_loss, step + 1);
    finding.hint = "lower --lr, keep --grad-clip on, and check the model's initialization";
    session_->keep({finding});
    std::vector<int> everyone;
    for (int r = 0; r < world_; ++r) everyone.push_back(r);
    throw RunStopped("train", everyone, fmt::format("the loss is {} at step {}", global_loss, step + 1));
  }
  const double norm = buckets_->norm();
  const double clip = setup_.options.grad_clip;
  buckets_->write_gradients(clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0);
  for (auto& group : optimizer_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(schedule_.at(step));
  }
  optimizer_->step();
  for (auto& [name, parameter] : trainable_) parameter.mutable_grad() = torch::Tensor();
  losses_.push_back(global_loss);
  if (buckets_->extra(1) > 0) {
    std::vector<int> everyone;
    for (int r = 0; r < world_; ++r) everyone.push_back(r);
    completed_ = step + 1;
    throw RunStopped("train", everyone, fmt::format("stopped after step {} by a signal (SIGINT or SIGTERM)", step + 1));
  }
}

void Trainer::train() {
  const TrainOptions& o = setup_.options;
  start_step_ = setup_.resume ? setup_.resume->step : 0;
  completed_ = start_step_;
  if (setup_.resume) {
    losses_ = setup_.resume->losses;
    losses_.resize(static_cast<size_t>(start_step_), std::numeric_limits<double>::quiet_NaN());
    val_losses_ = setup_.resume->val_losses;
  }
  // The first forward of the run is this validation: where LitGPT's meta-buffer bug struck.
  validate(start_step_);
  const int64_t tokens_per_step = plan_.global_batch() * plan_.seq_len();
  auto start = Clock::now();
  for (int64_t step = start_step_; step < o.steps; ++step) {
    if (step == start_step_) {
      loop_guard_point("before-forward");
    }
    phase_ = "train";
    auto step_start = Clock::now();
    train_step(step);
    completed_ = step + 1;
    train_seconds_ += seconds_since(step_start);
    trained_tokens_ += tokens_per_step;
    const double elapsed = seconds_since(start);
    const double per_step = elapsed / static_cast<double>(step + 1 - start_step_);
    printer_.step(step + 1, losses_.back(), schedule_.at(step), static_cast<double>(tokens_per_step) / per_step, per_step);
    knobs_.after_step(rank_, step + 1);
    const bool last = step + 1 == o.steps;
    if ((step + 1) % o.eval_every == 0 || last) validate(step + 1);
    const int64_t save_every = o.save_every > 0 ? o.save_every : o.steps;
    if (!o.out.empty() && ((step + 1) % save_every == 0 || last)) save(step + 1);
    if (!o.out.empty() && last) export_final();
  }
  // A run resumed at its last step (it was stopped while exporting): export again, so
  // DIR/final/ is whole whatever moment the first run died.
  if (!o.out.empty() && start_step_ == o.steps && start_step_ > 0) export_final();
  phase_ = "done";
}

TrainingInfo Trainer::training_info() const {
  TrainingInfo info;
  info.world_size = world_;
  info.steps = setup_.options.steps;
  info.global_batch = setup_.options.global_batch;
  info.seq_len = setup_.options.seq_len;
  info.device = to_string(setup_.placement.device);
  info.backend = world_ > 1 ? to_string(setup_.placement.backend) : "none";  // one rank: no collectives
  info.strategy = setup_.shard ? "shard" : "replicate";
  info.gather_seconds = sharded_loss_ ? sharded_loss_->gather_seconds() : 0;
  info.activation_checkpointing = setup_.checkpoint_activations;
  if (frozen_hash_) info.frozen_weights_hash = fmt::format("{:016x}", *frozen_hash_);
  info.losses = losses_;
  info.val_losses = val_losses_;
  if (!stopped_ && completed_ == setup_.options.steps && !losses_.empty()) info.final_loss = losses_.back();
  info.tokens_per_s = train_seconds_ > 0 ? static_cast<double>(trained_tokens_) / train_seconds_ : 0;
  info.stopped = stopped_;
  return info;
}

Report Trainer::rank_report(int exit_code, const std::string& error) const {
  Report report;
  report.command = "train";
  report.source = setup_.config.name;
  if (session_) {
    std::vector<TensorRecord> tensors = session_->walker().snapshot().tensors();
    session_->ledger().annotate(tensors);
    for (auto& tensor : tensors) tensor.rank = rank_;
    report.tensors = std::move(tensors);
    report.findings = session_->findings();
    if (session_->shards()) report.shards = {session_->shards()->row()};
  }
  report.training = training_info();
  std::vector<std::string> faults;
  for (Fault fault : setup_.faults) faults.emplace_back(to_string(fault));
  report.extra["rank"] = rank_;
  report.extra["phase"] = phase_;
  report.extra["error"] = error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error);
  report.extra["exit_code"] = exit_code;
  report.extra["train"] = {
      {"model", setup_.config.name},
      {"lora", setup_.lora_spec()},
      {"world_size", world_},
      {"micro_batch", plan_.micro_batch()},
      {"micro_steps", plan_.micro_steps()},
      {"lr", setup_.options.lr},
      {"warmup", setup_.warmup},
      {"grad_clip", setup_.options.grad_clip},
      {"seed", setup_.options.seed},
      {"on_meta", std::string(to_string(setup_.policy))},
      {"faults", faults},
      {"data", setup_.data_path},
      {"data_bytes", setup_.corpus->size()},
      {"start_step", start_step_},
      {"completed_steps", completed_},
      {"train_seconds", train_seconds_},
      {"guard_seconds", guard_ ? guard_->seconds() : 0.0},
      {"guard_seconds_by_phase", guard_ ? nlohmann::json(guard_->seconds_by_phase()) : nlohmann::json::object()},
      {"validation_seconds", validation_seconds_},
      {"threads", setup_.threads},
      {"checkpoint", last_checkpoint_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_checkpoint_)},
      {"resumed_from", setup_.options.resume.empty() ? nlohmann::json(nullptr) : nlohmann::json(setup_.options.resume)},
  };
  return report;
}

Report Trainer::run_report(const Report& own, int& exit_code) {
  Report report = own;
  report.extra.erase("rank");  // the run's report speaks for every rank
  for (auto& finding : report.findings) finding.rank = finding.rank.value_or(rank_);
  nlohmann::json ranks = nlohmann::json::array();
  ranks.push_back({{"rank", 0}, {"exit_code", exit_code}, {"phase", phase_}, {"error", own.extra.at("error")}});
  // Ranks a collective found gone or hung never answer; the others answer at once.
  auto results = communicator_.collect_results(lost_ranks_);
  for (int r = 1; r < world_; ++r) {
    auto it = results.find(r);
    if (it == results.end()) {
      ranks.push_back({{"rank", r}, {"exit_code", nullptr}, {"phase", nullptr}, {"error", "sent no result"}});
      exit_code = std::max(exit_code, 1);
      continue;
    }
    try {
      nlohmann::json document = nlohmann::json::parse(it->second);
      Report theirs = report_from_json(document, fmt::format("rank {}'s result", r));
      for (auto& finding : theirs.findings) {
        finding.rank = finding.rank.value_or(r);
        report.findings.push_back(finding);
      }
      report.shards.insert(report.shards.end(), theirs.shards.begin(), theirs.shards.end());
      const int code = static_cast<int>(theirs.extra.value("exit_code", 1));
      exit_code = std::max(exit_code, code);
      ranks.push_back({{"rank", r}, {"exit_code", code}, {"phase", theirs.extra.value("phase", "")},
                       {"error", theirs.extra.contains("error") ? theirs.extra["error"] : nlohmann::json(nullptr)}});
      // A rank that stopped on its own names the cause better than rank 0's view of it.
      if (stopped_ && stopped_->rank == r && theirs.extra.contains("error") && theirs.extra["error"].is_string()) {
        stopped_->reason = theirs.extra["error"].get<std::string>();
      }
    } catch (const std::exception& error) {
      ranks.push_back({{"rank", r}, {"exit_code", nullptr}, {"phase", nullptr}, {"error", error_text(error)}});
      exit_code = std::max(exit_code, 1);
    }
  }
  sort_findings(report.findings);
  report.training = training_info();
  report.extra["ranks"] = ranks;
  report.extra["exit_code"] = exit_code;
  return report;
}

void Trainer::announce_start() {
  if (!setup_.options.out.empty()) fs::create_directories(setup_.options.out);
  printer_.line(fmt::format(
      "metaguard train: {} (LoRA {}), {} rank(s), global batch {} = {} x {} micro-batch(es) of {} per rank, seq {}, "
      "{} steps, on-meta {}{}",
      setup_.config.name, setup_.lora_spec(), world_, plan_.global_batch(), world_, plan_.micro_steps(),
      plan_.micro_batch(), plan_.seq_len(), setup_.options.steps, to_string(setup_.policy),
      setup_.faults.empty() ? "" : fmt::format(", injected: {}", fmt::join(setup_.options.inject, " "))));
}

int Trainer::run_phases(std::string& error) {
  try {
    if (rank_ == 0) announce_start();
    torch::set_num_threads(setup_.threads);
    build();
    if (setup_.has(Fault::OptimizerBeforeReplace)) prepare_optimizer();  // on the meta model: the bug
    initialize();
    fingerprint_frozen_weights();
    prepare_optimizer();
    train();
    return 0;
  } catch (const RunStopped& stop) {
    stopped_ = StopReason{stop.phase(), stop.ranks().empty() ? std::nullopt : std::optional<int>(stop.ranks().front()), stop.what()};
    error = stop.what();
    return 1;
  } catch (const CollectiveFailure& failure) {
    stopped_ = StopReason{phase_, failure.missing().empty() ? std::nullopt : std::optional<int>(failure.missing().front()),
                          failure.what()};
    lost_ranks_.insert(failure.missing().begin(), failure.missing().end());
    error = failure.what();
    return 1;
  } catch (const InputError& input) {
    return stop_alone(fmt::format("bad input at {}", phase_), input.what(), 2, error);
  } catch (const c10::Error& torch_error) {
    return stop_alone(fmt::format("error at {}", phase_), torch_error.what_without_backtrace(), 1, error);
  } catch (const std::exception& other) {
    return stop_alone(fmt::format("error at {}", phase_),
                      fmt::format("internal error (a bug, please report it): {}", other.what()), 3, error);
  }
}

int Trainer::stop_alone(const std::string& where, const std::string& what, int exit_code, std::string& error) {
  error = what;
  stopped_ = StopReason{phase_, rank_, error};
  communicator_.announce_failure(fmt::format("{}: {}", where, error));
  communicator_.leave();
  return exit_code;
}

void Trainer::log_stop(const std::string& error) const {
  log(fmt::format("metaguard: rank {} stopped at {}: {}", rank_, stopped_ ? stopped_->phase : phase_, error));
  if (!session_) return;
  size_t shown = 0, open = 0;
  for (const auto& finding : session_->findings()) {
    if (finding.severity != Severity::Error || finding.repaired || finding.allowed) continue;
    if (++open <= 8) {
      log(fmt::format("  [{}] {}", finding.code, finding.message));
      ++shown;
    }
  }
  if (open > shown) log(fmt::format("  ... and {} more error findings (all in the report)", open - shown));
}

void Trainer::write_rank_report(const Report& report) const {
  const std::string out = setup_.options.out;
  if (out.empty()) return;
  try {
    fs::create_directories(out);
    write_file_atomically((fs::path(out) / fmt::format("rank{}.json", rank_)).string(),
                          report_to_json(report).dump(2) + "\n");
  } catch (const std::exception& write_error) {
    log(fmt::format("metaguard: rank {} could not write its report: {}", rank_, error_text(write_error)));
  }
}

void Trainer::post_result(const Report& own, int exit_code, const std::string& error) {
  Report message;
  message.command = "train";
  message.source = setup_.config.name;
  message.findings = own.findings;
  message.shards = own.shards;
  message.extra = {{"exit_code", exit_code}, {"phase", phase_},
                   {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)}};
  communicator_.post_result(report_to_json(message).dump());
}

TrainResult Trainer::run() {
  std::string error;
  int exit_code = run_phases(error);
  printer_.finish();
  if (!error.empty()) log_stop(error);

  TrainResult result;
  result.rank_report = rank_report(exit_code, error);
  write_rank_report(result.rank_report);
  if (rank_ != 0) {
    post_result(result.rank_report, exit_code, error);
    result.exit_code = exit_code;
    return result;
  }
  const std::string out = setup_.options.out;
  result.run_report = run_report(result.rank_report, exit_code);
  result.exit_code = std::max(exit_code, result.run_report->exit_code());
  result.run_report->extra["exit_code"] = result.exit_code;
  try {
    const std::string text = report_to_json(*result.run_report).dump(2) + "\n";
    if (!out.empty()) write_file_atomically((fs::path(out) / "report.json").string(), text);
    if (const char* path = std::getenv("METAGUARD_RUN_REPORT"); path && *path) write_file_atomically(path, text);
  } catch (const std::exception& write_error) {
    log(fmt::format("metaguard: could not write the run report: {}", error_text(write_error)));
  }
  return result;
}

}  // namespace metaguard
