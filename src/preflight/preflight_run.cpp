#include "preflight/preflight_run.hpp"

#include <memory>
#include <unordered_set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "preflight/in_process_replicator.hpp"
#include "preflight/init_program.hpp"

namespace metaguard {
namespace {

// Weights (each storage once), gradients and AdamW state (two moments) of trainable tensors.
nlohmann::json memory_row(int rank, const Inventory& inventory) {
  std::map<std::string, nlohmann::json> by_device;
  std::unordered_set<uint64_t> storages;
  for (const auto& t : inventory.tensors()) {
    auto& row = by_device[t.device];
    if (row.is_null()) row = {{"rank", rank}, {"device", t.device}, {"weight_bytes", 0}, {"gradient_bytes", 0}, {"optimizer_bytes", 0}};
    if (t.storage_key != 0 && !storages.insert(t.storage_key).second) continue;
    row["weight_bytes"] = row["weight_bytes"].get<int64_t>() + t.nbytes;
    if (t.kind == TensorKind::Parameter && t.requires_grad.value_or(false)) {
      row["gradient_bytes"] = row["gradient_bytes"].get<int64_t>() + t.nbytes;
      row["optimizer_bytes"] = row["optimizer_bytes"].get<int64_t>() + 2 * t.nbytes;
    }
  }
  nlohmann::json rows = nlohmann::json::array();
  for (auto& [device, row] : by_device) {
    row["total_bytes"] = row["weight_bytes"].get<int64_t>() + row["gradient_bytes"].get<int64_t>() +
                         row["optimizer_bytes"].get<int64_t>();
    rows.push_back(row);
  }
  return rows;
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

}  // namespace

Report run_preflight(const PreflightOptions& options) {
  GPTConfig config = resolve_model_config(options.model);
  std::optional<LoRAConfig> lora = parse_lora_spec(options.lora);
  check_lora_fits(config, lora);

  InitPlan plan;
  plan.world_size = options.world_size;
  plan.seed = options.seed;
  plan.threads = options.threads;
  plan.faults = parse_faults(options.inject);
  plan.offload = options.offload;
  if (plan.has(Fault::PartialCheckpoint)) {
    throw InputError("--inject partial-checkpoint: needs --checkpoint, which this build cannot load yet");
  }
  if (options.init && *options.init != "meta" && *options.init != "direct") {
    throw InputError(fmt::format("--init: expected meta or direct, got '{}'", *options.init));
  }
  const bool wants_meta_faults = plan.has(Fault::LoraIndMeta) || plan.has(Fault::RopeCacheMeta) ||
                                 plan.has(Fault::ToEmptyNoInit) || plan.has(Fault::UntieOnMaterialize) ||
                                 plan.has(Fault::SkipBroadcast);
  plan.meta_init = options.init ? *options.init == "meta" : (options.world_size > 1 || wants_meta_faults);
  check_plan(plan, config, lora);

  GuardConfig guard;
  guard.policy = options.repair ? GuardPolicy::Repair : GuardPolicy::Warn;
  guard.lora_run = lora.has_value();
  guard.repair.seed = plan.seed;
  guard.repair.threads = plan.threads;

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
      try {
        ranks[r]->keep(ranks[r]->guard().check_point(phase, needs, extras));
      } catch (const GuardFailure& failure) {
        // Repair could not clear everything: report what remains and go on simulating.
        ranks[r]->keep(failure.findings());
      }
      // Later ranks compare against this rank's state as it is now, repairs included.
      if (cross_rank) snapshots[r] = ranks[r]->walker().snapshot();
    }
  };

  // init: the build as it came out of the constructor, then the first values.
  for (auto& rank : ranks) {
    rank->guard().record("init");
    run_init_step(*rank, plan);
  }
  guard_point("init", plan.meta_init ? DataNeeds::none() : DataNeeds::all(), false);
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
  for (auto& rank : ranks) {
    Inventory final_inventory = rank->walker().snapshot();
    for (const auto& row : memory_row(rank->rank(), final_inventory)) memory.push_back(row);
    std::vector<TensorRecord> tensors = final_inventory.tensors();
    rank->ledger().annotate(tensors);
    for (auto& t : tensors) {
      t.rank = rank->rank();
      report.tensors.push_back(std::move(t));
    }
    for (const auto& finding : rank->findings()) report.findings.push_back(finding);
    if (rank->rank() == 0) report.extra["parameters"] = parameter_counts(final_inventory);
  }
  report.extra["memory"] = memory;
  std::vector<std::string> fault_list;
  for (Fault fault : plan.faults) fault_list.emplace_back(to_string(fault));
  report.extra["preflight"] = {
      {"model", config.name},       {"lora", lora ? lora->to_spec() : "none"},
      {"world_size", plan.world_size}, {"init", plan.meta_init ? "meta" : "direct"},
      {"faults", fault_list},       {"repair", options.repair},       {"offload", options.offload},
      {"seed", plan.seed},          {"phases", ranks[0]->ledger().phases()},
  };
  sort_findings(report.findings);
  return report;
}

}  // namespace metaguard
