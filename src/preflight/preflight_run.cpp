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
#include "preflight/in_process_replicator.hpp"
#include "preflight/init_program.hpp"

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

nlohmann::json memory_json(const MemoryRow& row) {
  return {{"rank", row.rank},
          {"device", row.device},
          {"weight_bytes", row.weight_bytes},
          {"gradient_bytes", row.gradient_bytes},
          {"optimizer_bytes", row.optimizer_bytes},
          {"total_bytes", row.total_bytes()}};
}

nlohmann::json parameter_counts(const Inventory& inventory) {
  int64_t trainable = 0, frozen = 0, trainable_tensors = 0, frozen_tensors = 0;
  std::unordered_set<uint64_t> seen;
  for (const auto& t : inventory.tensors()) {
    if (t.kind != TensorKind::Parameter || !seen.insert(t.tensor_key).second) continue;
    if (t.requires_grad.value_or(false)) {
      trainable += t.numel;
      ++trainable_tensors;
    } else {
      frozen += t.numel;
      ++frozen_tensors;
    }
  }
  return {{"trainable_numel", trainable}, {"frozen_numel", frozen},
          {"trainable_tensors", trainable_tensors}, {"frozen_tensors", frozen_tensors}};
}

// Under --repair, the load guard point fills tensors the checkpoint lacked from their init
// recipes; their missing-key findings then count as repaired (shape and dtype mismatches
// stay: the file still disagrees with the model).
void mark_filled_keys_repaired(RankSession& session, std::vector<Finding>& findings) {
  Inventory now = session.walker().snapshot();
  for (auto& finding : findings) {
    if (finding.code != "missing-key" || !finding.tensor) continue;
    const TensorRecord* record = now.find(*finding.tensor);
    if (record && record->has_data()) finding.repaired = true;
  }
}

}  // namespace

Report run_preflight(const PreflightOptions& options) {
  ModelSource model = resolve_model(options.model);
  GPTConfig config = model.config;
  std::optional<LoRAConfig> lora = parse_lora_spec(options.lora);
  check_lora_fits(config, lora);

  InitPlan plan;
  plan.world_size = options.world_size;
  plan.seed = options.seed;
  plan.threads = options.threads;
  plan.faults = parse_faults(options.inject);
  for (Fault fault : plan.faults) {
    if (train_only(fault)) {
      throw InputError(fmt::format("--inject {}: needs a real optimizer or device move; run it with 'metaguard train'",
                                   to_string(fault)));
    }
  }
  plan.offload = options.offload;
  // Opening reads the file's metadata only; a bad file is the reader's InputError (exit 2).
  // A LitGPT checkpoint directory given as --model brings its lit_model.pth.
  std::optional<std::string> checkpoint_path = options.checkpoint;
  if (!checkpoint_path && !model.checkpoint.empty()) checkpoint_path = model.checkpoint;
  std::optional<CheckpointFile> checkpoint;
  if (checkpoint_path) {
    checkpoint.emplace(CheckpointFile::open(*checkpoint_path));
    plan.checkpoint = &*checkpoint;
  }
  if (options.init && *options.init != "meta" && *options.init != "direct") {
    throw InputError(fmt::format("--init: expected meta or direct, got '{}'", *options.init));
  }
  plan.meta_init = options.init ? *options.init == "meta" : (options.world_size > 1 || any_needs_meta_build(plan.faults));
  check_plan(plan, config, lora);
  const auto parsed_precision = parse_precision(options.precision);
  if (!parsed_precision) {
    throw InputError(fmt::format("--precision '{}': expected one of {}", options.precision,
                                 fmt::join(precision_names(), ", ")));
  }
  const Precision precision = *parsed_precision;
  if (options.device != "cpu" && options.device != "cuda") {
    throw InputError(fmt::format("--device '{}': expected cpu or cuda", options.device));
  }
  const std::string device_label = options.device == "cuda" ? "cuda" : "";
  std::optional<int64_t> device_memory;
  if (options.device_memory) {
    device_memory = parse_byte_size(*options.device_memory);
    if (!device_memory) {
      throw InputError(fmt::format("--device-memory '{}': expected a size such as 80GiB, 40GB or 512MiB",
                                   *options.device_memory));
    }
  }

  GuardConfig guard;
  guard.policy = options.repair ? GuardPolicy::Repair : GuardPolicy::Warn;
  guard.lora_run = lora.has_value();
  guard.repair.seed = plan.seed;
  guard.repair.threads = plan.threads;
  guard.repair.select = [&plan](const LiveTensor& live) { return !plan.offloaded(live.name); };  // repair leaves them

  // Every rank builds on meta: a dry run allocates nothing, whatever the model's size.
  std::vector<std::unique_ptr<RankSession>> ranks;
  for (int r = 0; r < plan.world_size; ++r) {
    BuildOptions build;
    build.device = torch::kMeta;
    build.seed = plan.seed;
    GPT model = build_gpt(config, lora, build);
    if (lora) model->mark_only_lora_trainable();
    ranks.push_back(std::make_unique<RankSession>(r, std::move(model), /*dry_run=*/true, guard));
  }
  InProcessReplicator replicator(*ranks[0]);
  for (size_t r = 1; r < ranks.size(); ++r) {
    RankSession* session = ranks[r].get();
    // Repairing a divergence is a re-broadcast from rank 0.
    session->guard().set_replicate([&replicator, session](const std::vector<std::string>& names) {
      return replicator.replicate(*session, names);
    });
  }

  // A guard point that keeps going: in a simulation, what repair could not clear is reported
  // and the later phases still run.
  auto checked_point = [](RankSession& rank, const std::string& phase, DataNeeds needs, const GuardExtras& extras) {
    try {
      rank.keep(rank.guard().check_point(phase, needs, extras));
    } catch (const GuardFailure& failure) {
      rank.keep(failure.findings());
    }
  };
  auto guard_point = [&](const std::string& phase, DataNeeds needs, bool cross_rank) {
    std::vector<Inventory> snapshots;
    std::vector<const Inventory*> pointers;
    if (cross_rank) {
      for (auto& rank : ranks) snapshots.push_back(rank->walker().snapshot());
      for (auto& snapshot : snapshots) pointers.push_back(&snapshot);
    }
    for (size_t r = 0; r < ranks.size(); ++r) {
      GuardExtras extras;
      if (cross_rank) extras.ranks = &pointers;
      checked_point(*ranks[r], phase, needs, extras);
      // Later ranks compare against this rank's state as it is now, repairs included
      // (without --repair, a check changes nothing).
      if (cross_rank && options.repair) snapshots[r] = ranks[r]->walker().snapshot();
    }
  };

  // init: the build as it came out of the constructor, then the first values.
  for (auto& rank : ranks) {
    rank->guard().record("init");
    run_init_step(*rank, plan);
  }
  guard_point("init", plan.meta_init ? DataNeeds::none() : DataNeeds::all(), false);
  nlohmann::json load_summary;
  if (plan.checkpoint) {
    // load: rank 0 reads the checkpoint; it must then hold every parameter and persistent
    // buffer (the others receive them at broadcast).
    std::vector<LoadResult> loads;
    for (auto& rank : ranks) loads.push_back(run_load_step(*rank, plan));
    for (auto& rank : ranks) {
      DataNeeds needs = plan.loads_on(rank->rank()) ? DataNeeds::persistent() : DataNeeds::none();
      checked_point(*rank, "load", needs, GuardExtras{});
    }
    for (auto& rank : ranks) {
      LoadResult& load = loads[static_cast<size_t>(rank->rank())];
      if (options.repair) mark_filled_keys_repaired(*rank, load.findings);
      rank->keep(load.findings);
    }
    load_summary = {{"checkpoint", plan.checkpoint->path()},
                    {"format", plan.checkpoint->contents().format},
                    {"entries", plan.checkpoint->tensors().size()},
                    {"loaded_on_rank0", loads.front().loaded.size()}};
  }
  if (plan.world_size > 1) {
    for (auto& rank : ranks) run_broadcast_step(*rank, plan, replicator);
    guard_point("broadcast", DataNeeds::persistent(), true);
  }
  for (auto& rank : ranks) {
    run_materialize_step(*rank, plan);
    rank->guard().record("materialize");
  }
  // The trainer's first forward is the validation before step 1 (where LitGPT's bug struck).
  guard_point("before-validation", DataNeeds::all(), plan.world_size > 1);

  Report report;
  report.command = "preflight";
  report.source = options.model;
  nlohmann::json memory = nlohmann::json::array();
  std::vector<MemoryRow> memory_rows_all;
  for (auto& rank : ranks) {
    Inventory final_inventory = rank->walker().snapshot();
    for (const auto& row : memory_rows(rank->rank(), final_inventory, precision, device_label)) {
      memory.push_back(memory_json(row));
      memory_rows_all.push_back(row);
    }
    std::vector<TensorRecord> tensors = final_inventory.tensors();
    rank->ledger().annotate(tensors);
    for (auto& t : tensors) {
      t.rank = rank->rank();
      report.tensors.push_back(std::move(t));
    }
    for (const auto& finding : rank->findings()) report.findings.push_back(finding);
    if (rank->rank() == 0) report.extra["parameters"] = parameter_counts(final_inventory);
  }
  // Storage ids are per report: replicas on different ranks are different storages.
  Inventory all_ranks(std::move(report.tensors));
  all_ranks.assign_storage_ids();
  report.tensors = all_ranks.tensors();
  report.extra["memory"] = memory;
  if (device_memory) {
    for (auto& finding : memory_budget_findings(memory_rows_all, *device_memory, "materialize")) {
      report.findings.push_back(std::move(finding));
    }
  }
  if (!load_summary.is_null()) report.extra["load"] = load_summary;
  std::vector<std::string> fault_list;
  for (Fault fault : plan.faults) fault_list.emplace_back(to_string(fault));
  report.extra["preflight"] = {
      {"model", config.name},       {"lora", lora ? lora->to_spec() : "none"},
      {"world_size", plan.world_size}, {"init", plan.meta_init ? "meta" : "direct"},
      {"faults", fault_list},       {"repair", options.repair},       {"offload", options.offload},
      {"seed", plan.seed},          {"precision", options.precision}, {"device", options.device},          {"phases", distinct_phases(ranks[0]->ledger().phases())},
      {"checkpoint", checkpoint_path ? nlohmann::json(*checkpoint_path) : nlohmann::json()},
  };
  sort_findings(report.findings);
  return report;
}

}  // namespace metaguard
