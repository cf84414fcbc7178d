#include "preflight/preflight_run.hpp"

#include <algorithm>
#include <memory>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <torch/torch.h>

#include "checks/memory_budget.hpp"
#include "core/errors.hpp"
#include "model/model_catalog.hpp"
#include "preflight/activation_estimate.hpp"
#include "preflight/in_process_replicator.hpp"
#include "program/phase_program.hpp"

namespace metaguard {
namespace {

// Weights (each storage once), gradients and AdamW state (two moments) of trainable tensors.
// Phases in the order first seen (a guard point that repaired records its phase twice).
std::vector<std::string> distinct_phases(const std::vector<std::string>& phases) {
  std::vector<std::string> distinct;
  for (const auto& phase : phases) {
    if (std::find(distinct.begin(), distinct.end(), phase) == distinct.end()) distinct.push_back(phase);
  }
  return distinct;
}

ParameterCounts parameter_counts(const Inventory& inventory) {
  ParameterCounts counts;
  std::unordered_set<uint64_t> seen;
  for (const auto& t : inventory.tensors()) {
    if (t.kind != TensorKind::Parameter || !seen.insert(t.tensor_key).second) continue;
    if (t.requires_grad.value_or(false)) {
      counts.trainable_numel += t.numel;
      ++counts.trainable_tensors;
    } else {
      counts.frozen_numel += t.numel;
      ++counts.frozen_tensors;
    }
  }
  return counts;
}

// One preflight: the flags checked (bad input stops before any model is built), every
// simulated rank built on meta, the initialization program (program/phase_program.hpp) run
// for all of them in this process, and the report.
class PreflightRun : private ProgramRunner {
 public:
  explicit PreflightRun(const PreflightOptions& options);
  PreflightRun(const PreflightRun&) = delete;
  PreflightRun& operator=(const PreflightRun&) = delete;

  Report run();

 private:
  void build_ranks();
  // The runner's side: every simulated rank, the in-process broadcast, and a check that
  // keeps going (in a simulation, what repair could not clear is reported and the later
  // phases still run).
  std::vector<RankSession*> sessions() override;
  Replicator& replicator() override { return *replicator_; }
  void check_phase(const ProgramPhase& phase, const InitPlan& plan) override;
  void checked_point(RankSession& rank, const std::string& phase, DataNeeds needs, const GuardExtras& extras);
  nlohmann::json load_summary() const;
  // The memory rows (and, sharded, the shard rows) of one rank's final inventory.
  void add_memory(Report& report, int rank, const Inventory& inventory) const;
  Report report();

  const PreflightOptions& options_;
  GPTConfig config_;
  std::optional<LoRAConfig> lora_;
  InitPlan plan_;
  std::optional<std::string> checkpoint_path_;
  std::optional<CheckpointFile> checkpoint_;  // plan_.checkpoint points here
  Precision precision_ = Precision::True32;
  std::string device_label_;
  std::optional<int64_t> device_memory_;
  bool shard_ = false;
  int64_t activations_ = 0;  // per rank, when --micro-batch and --seq-len are given
  GuardConfig guard_;
  std::vector<std::unique_ptr<RankSession>> ranks_;
  std::unique_ptr<InProcessReplicator> replicator_;
};

PreflightRun::PreflightRun(const PreflightOptions& options) : options_(options) {
  ModelSource model = resolve_model(options.model);
  config_ = model.config;
  lora_ = parse_lora_spec(options.lora);
  check_lora_fits(config_, lora_);

  plan_.world_size = options.world_size;
  plan_.seed = options.seed;
  plan_.threads = options.threads;
  plan_.faults = parse_faults(options.inject);
  for (Fault fault : plan_.faults) {
    if (train_only(fault)) {
      throw InputError(fmt::format("--inject {}: needs {}; run it with 'metaguard train{}'", to_string(fault),
                                   shard_only(fault) ? "sharded training" : "a real optimizer or device move",
                                   shard_only(fault) ? " --strategy shard" : ""));
    }
  }
  plan_.offload = options.offload;
  // Opening reads the file's metadata only; a bad file is the reader's InputError (exit 2).
  // A LitGPT checkpoint directory given as --model brings its lit_model.pth.
  checkpoint_path_ = options.checkpoint;
  if (!checkpoint_path_ && !model.checkpoint.empty()) checkpoint_path_ = model.checkpoint;
  if (checkpoint_path_) {
    checkpoint_.emplace(CheckpointFile::open(*checkpoint_path_));
    plan_.checkpoint = &*checkpoint_;
  }
  if (options.init && *options.init != "meta" && *options.init != "direct") {
    throw InputError(fmt::format("--init: expected meta or direct, got '{}'", *options.init));
  }
  plan_.meta_init = options.init ? *options.init == "meta" : (options.world_size > 1 || any_needs_meta_build(plan_.faults));
  check_plan(plan_, config_, lora_);
  const auto parsed_precision = parse_precision(options.precision);
  if (!parsed_precision) {
    throw InputError(fmt::format("--precision '{}': expected one of {}", options.precision,
                                 fmt::join(precision_names(), ", ")));
  }
  precision_ = *parsed_precision;
  if (options.device != "cpu" && options.device != "cuda") {
    throw InputError(fmt::format("--device '{}': expected cpu or cuda", options.device));
  }
  device_label_ = options.device == "cuda" ? "cuda" : "";
  if (options.device_memory) {
    device_memory_ = parse_byte_size(*options.device_memory);
    if (!device_memory_) {
      throw InputError(fmt::format("--device-memory '{}': expected a size such as 80GiB, 40GB or 512MiB",
                                   *options.device_memory));
    }
  }

  shard_ = parse_shard_strategy(options.strategy);
  if (options.micro_batch.has_value() != options.seq_len.has_value()) {
    throw InputError(options.micro_batch ? "--micro-batch: activations need --seq-len too"
                                         : "--seq-len: activations need --micro-batch too");
  }
  if (options.micro_batch) {
    if (*options.micro_batch < 1) throw InputError("--micro-batch: must be at least 1");
    if (*options.seq_len < 1 || *options.seq_len > config_.block_size) {
      throw InputError(fmt::format("--seq-len: must be between 1 and the model's block size {} (got {})",
                                   config_.block_size, *options.seq_len));
    }
    activations_ = activation_bytes(config_, *options.micro_batch, *options.seq_len, float_element_bytes(precision_));
  }

  guard_.policy = options.repair ? GuardPolicy::Repair : GuardPolicy::Warn;
  guard_.lora_run = lora_.has_value();
  guard_.repair.seed = plan_.seed;
  guard_.repair.threads = plan_.threads;
  guard_.repair.select = [this](const LiveTensor& live) { return !plan_.offloaded(live.name); };  // repair leaves them
}

void PreflightRun::build_ranks() {
  // Every rank builds on meta: a dry run allocates nothing, whatever the model's size.
  for (int r = 0; r < plan_.world_size; ++r) {
    BuildOptions build;
    build.device = torch::kMeta;
    build.seed = plan_.seed;
    GPT model = build_gpt(config_, lora_, build);
    if (lora_) model->mark_only_lora_trainable();
    ranks_.push_back(std::make_unique<RankSession>(r, std::move(model), /*dry_run=*/true, guard_));
  }
  replicator_ = std::make_unique<InProcessReplicator>(*ranks_[0]);
  for (size_t r = 1; r < ranks_.size(); ++r) {
    RankSession* session = ranks_[r].get();
    // Repairing a divergence is a re-broadcast from rank 0.
    session->guard().set_replicate([replicator = replicator_.get(), session](const std::vector<std::string>& names) {
      return replicator->replicate(*session, names);
    });
  }
}

std::vector<RankSession*> PreflightRun::sessions() {
  std::vector<RankSession*> out;
  for (auto& rank : ranks_) out.push_back(rank.get());
  return out;
}

void PreflightRun::checked_point(RankSession& rank, const std::string& phase, DataNeeds needs,
                                 const GuardExtras& extras) {
  try {
    rank.keep(rank.guard().check_point(phase, needs, extras));
  } catch (const GuardFailure& failure) {
    rank.keep(failure.findings());
  }
}

void PreflightRun::check_phase(const ProgramPhase& phase, const InitPlan& plan) {
  const std::string name(to_string(phase.phase));
  const bool cross_rank = phase.check == PhaseCheck::AcrossRanks && plan.world_size > 1;
  std::vector<Inventory> snapshots;
  std::vector<const Inventory*> pointers;
  if (cross_rank) {
    for (auto& rank : ranks_) snapshots.push_back(rank->walker().snapshot());
    for (auto& snapshot : snapshots) pointers.push_back(&snapshot);
  }
  for (size_t r = 0; r < ranks_.size(); ++r) {
    GuardExtras extras;
    if (cross_rank) extras.ranks = &pointers;
    if (phase.names_target_device) extras.target_device = plan.device.str();
    checked_point(*ranks_[r], name, phase.needs(plan, ranks_[r]->rank()), extras);
    // Later ranks compare against this rank's state as it is now, repairs included
    // (without --repair, a check changes nothing).
    if (cross_rank && options_.repair) snapshots[r] = ranks_[r]->walker().snapshot();
  }
}

// The report's "load" section: what rank 0 read (the others receive it at broadcast).
nlohmann::json PreflightRun::load_summary() const {
  if (!plan_.checkpoint) return nullptr;
  return {{"checkpoint", plan_.checkpoint->path()},
          {"format", plan_.checkpoint->contents().format},
          {"entries", plan_.checkpoint->tensors().size()},
          {"loaded_on_rank0", ranks_.front()->loaded().loaded.size()}};
}

Report PreflightRun::run() {
  build_ranks();
  run_program(plan_);
  return report();
}

void PreflightRun::add_memory(Report& report, int rank, const Inventory& inventory) const {
  if (shard_) {
    ShardRow shard;
    MemoryRow row = sharded_memory_row(rank, plan_.world_size, inventory, precision_, device_label_, shard);
    row.activation_bytes = activations_;
    report.memory.push_back(std::move(row));
    report.shards.push_back(std::move(shard));
    return;
  }
  std::vector<MemoryRow> rows = memory_rows(rank, inventory, precision_, device_label_);
  if (!rows.empty()) rows.front().activation_bytes = activations_;  // one forward's, on the rank's (first) device
  for (auto& row : rows) report.memory.push_back(std::move(row));
}

Report PreflightRun::report() {
  const nlohmann::json load = load_summary();
  Report report;
  report.command = "preflight";
  report.source = options_.model;
  for (auto& rank : ranks_) {
    Inventory final_inventory = rank->walker().snapshot();
    add_memory(report, rank->rank(), final_inventory);
    std::vector<TensorRecord> tensors = final_inventory.tensors();
    rank->ledger().annotate(tensors);
    for (auto& t : tensors) {
      t.rank = rank->rank();
      report.tensors.push_back(std::move(t));
    }
    for (const auto& finding : rank->findings()) report.findings.push_back(finding);
    if (rank->rank() == 0) report.parameters = parameter_counts(final_inventory);
  }
  // Storage ids are per report: replicas on different ranks are different storages.
  Inventory all_ranks(std::move(report.tensors));
  all_ranks.assign_storage_ids();
  report.tensors = all_ranks.tensors();
  if (device_memory_) {
    for (auto& finding : memory_budget_findings(report.memory, *device_memory_, "materialize")) {
      report.findings.push_back(std::move(finding));
    }
  }
  for (auto& finding : empty_shard_findings(report.shards, plan_.world_size, "materialize")) {
    report.findings.push_back(std::move(finding));
  }
  if (!load.is_null()) report.extra["load"] = load;
  std::vector<std::string> fault_list;
  for (Fault fault : plan_.faults) fault_list.emplace_back(to_string(fault));
  report.extra["preflight"] = {
      {"model", config_.name},       {"lora", lora_ ? lora_->to_spec() : "none"},
      {"world_size", plan_.world_size}, {"init", plan_.meta_init ? "meta" : "direct"},
      {"faults", fault_list},       {"repair", options_.repair},       {"offload", options_.offload},
      {"seed", plan_.seed},          {"precision", options_.precision}, {"device", options_.device},
      {"strategy", options_.strategy},
      {"phases", distinct_phases(ranks_[0]->ledger().phases())},
      {"checkpoint", checkpoint_path_ ? nlohmann::json(*checkpoint_path_) : nlohmann::json()},
  };
  sort_findings(report.findings);
  return report;
}

}  // namespace

Report run_preflight(const PreflightOptions& options) { return PreflightRun(options).run(); }

}  // namespace metaguard
