#include "program/init_program.hpp"

#include <memory>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "core/finding.hpp"
#include "model/gpt.hpp"
#include "repair/materializer.hpp"
#include "walk/module_registries.hpp"
#include "walk/tie_groups.hpp"

namespace metaguard {
namespace {

// Derived buffers a fault leaves alone: the bug is that nobody recomputes them.
bool left_alone_by_fault(const LiveTensor& tensor, const InitPlan& plan) {
  if (plan.has(Fault::LoraIndMeta) && tensor.local_name_is("lora_ind")) return true;
  if (plan.has(Fault::RopeCacheMeta) && (tensor.local_name_is("cos") || tensor.local_name_is("sin"))) return true;
  return false;
}

// The key mapping a session's model loads checkpoints with.
KeyMapping key_mapping(RankSession& session) {
  return session.model()->lora() ? KeyMapping::LoraBase : KeyMapping::Identity;
}

// partial-checkpoint: the file "lacks" every key of the last transformer block.
CheckpointKeyMap::KeyFilter hidden_keys(RankSession& session, const InitPlan& plan) {
  if (!plan.has(Fault::PartialCheckpoint)) return {};
  std::string prefix = fmt::format("transformer.h.{}.", session.model()->config().n_layer - 1);
  return [prefix](const std::string& key) { return key.compare(0, prefix.size(), prefix) == 0; };
}

MaterializeOptions options_for(const InitPlan& plan) {
  MaterializeOptions options;
  options.seed = plan.seed;
  options.device = plan.device;
  options.threads = plan.threads;
  return options;
}

// untie-on-materialize: a materializer that fills each name separately gives every alias
// of a tied tensor its own storage (same values, two copies).
void untie_tied_parameters(RankSession& session) {
  ModuleWalker& walker = session.walker();
  walker.refresh();
  // Each tied group: the name that declares the init recipe owns the tensor; the others
  // (the LM head borrowing the embedding) get their own copies.
  std::vector<LiveTensor*> parameters;
  for (auto& live : walker.tensors()) {
    if (live.kind == TensorKind::Parameter && live.tensor.defined()) parameters.push_back(&live);
  }
  std::vector<std::pair<LiveTensor*, const LiveTensor*>> aliases;  // (alias, owner)
  for (const auto& members : tie_groups(parameters)) {
    for (size_t k = 1; k < members.size(); ++k) aliases.emplace_back(members[k], members.front());
  }
  TensorStateTracker& tracker = session.tracker();
  for (auto& [alias, original] : aliases) {
    torch::Tensor copy;
    if (tracker.dry_run()) {
      copy = torch::empty(original->tensor.sizes(), original->tensor.options());
      auto state = tracker.state_of(original->tensor);
      if (state) {
        tracker.mark_allocated(copy, state->device);
        if (state->written) tracker.mark_written(copy, state->written_by, state->content_key);
      }
    } else {
      copy = original->tensor.detach().clone();
      tracker.mark_written(copy, LedgerEvent::Initialized);
    }
    copy.set_requires_grad(original->tensor.requires_grad());
    replace_registered_parameter(*alias->module, alias->local_name(), copy);
  }
  walker.refresh();
}

}  // namespace

bool InitPlan::offloaded(const std::string& name) const {
  for (const auto& glob : offload) {
    if (glob_match(glob, name)) return true;
  }
  return false;
}

bool InitPlan::loads_on(int rank) const {
  if (!checkpoint || has(Fault::ToEmptyNoInit)) return false;
  return rank == 0 || has(Fault::RankSeedDivergence);
}

bool InitPlan::holds_data_after_load(int rank) const {
  if (!meta_init) return true;
  if (checkpoint) return loads_on(rank);
  return resume && rank == 0;
}

bool InitPlan::broadcasts() const {
  return world_size > 1 && !has(Fault::SkipBroadcast) && !has(Fault::ToEmptyNoInit) &&
         !has(Fault::RankSeedDivergence);
}

std::vector<std::string> replicated_names(RankSession& session) {
  session.walker().refresh();
  std::vector<std::string> names;
  for (const auto& live : session.walker().tensors()) {
    if (is_persistent(live.kind) && live.tensor.defined()) names.push_back(live.name);
  }
  return names;
}

void run_init_step(RankSession& session, const InitPlan& plan) {
  if (!plan.offload.empty()) {
    for (const auto& live : session.walker().tensors()) {
      if (plan.offloaded(live.name)) session.ledger().note(live.name, LedgerEvent::Offloaded, "kept on meta on purpose by --offload");
    }
  }
  const bool every_rank_initializes = plan.has(Fault::ToEmptyNoInit) || plan.has(Fault::RankSeedDivergence);
  if (session.rank() != 0 && plan.meta_init && !every_rank_initializes) return;

  MaterializeOptions options = options_for(plan);
  options.select = [&plan](const LiveTensor& live) { return !plan.offloaded(live.name); };
  if (plan.has(Fault::ToEmptyNoInit)) {
    options.fill = false;  // storage for everything, values for nothing
    materialize(session.walker(), session.tracker(), options, &session.ledger());
    if (plan.has(Fault::UntieOnMaterialize)) untie_tied_parameters(session);
    return;
  }
  if (plan.has(Fault::RankSeedDivergence)) options.seed = plan.seed + 7919 * static_cast<uint64_t>(session.rank());
  if (plan.meta_init) {
    // Derived buffers are every rank's own business, at "materialize".
    options.select = [&plan](const LiveTensor& live) { return is_persistent(live.kind) && !plan.offloaded(live.name); };
  }
  std::shared_ptr<CheckpointKeyMap> keys;
  if (plan.meta_init && plan.checkpoint) {
    keys = std::make_shared<CheckpointKeyMap>(*plan.checkpoint, key_mapping(session), hidden_keys(session, plan));
    options.select = [&plan, keys](const LiveTensor& live) {
      return live.kind == TensorKind::Parameter && is_lora_parameter_name(live.name) && !plan.offloaded(live.name) &&
             !keys->provides(live.name);
    };
  }
  materialize(session.walker(), session.tracker(), options, &session.ledger());
  if (plan.has(Fault::UntieOnMaterialize)) untie_tied_parameters(session);
}

LoadResult run_load_step(RankSession& session, const InitPlan& plan) {
  if (!plan.loads_on(session.rank())) return {};
  LoadOptions options;
  options.device = plan.device;
  options.threads = plan.threads;
  options.rank = session.rank();
  options.keys = key_mapping(session);
  options.hide_keys = hidden_keys(session, plan);
  options.select = [&plan](const LiveTensor& live) { return !plan.offloaded(live.name); };
  return load_checkpoint(session.walker(), session.tracker(), *plan.checkpoint, options, &session.ledger());
}

void run_broadcast_step(RankSession& session, const InitPlan& plan, Replicator& replicator) {
  if (!plan.broadcasts()) return;
  replicator.replicate(session, replicated_names(session));
  if (session.rank() != 0 && plan.has(Fault::UntieOnMaterialize)) untie_tied_parameters(session);
}

void replace_trainable_parameters(RankSession& session) {
  session.walker().refresh();
  for (auto& live : session.walker().tensors()) {
    if (live.kind != TensorKind::Parameter || !live.tensor.defined() || !live.tensor.requires_grad()) continue;
    torch::Tensor fresh = live.tensor.detach().clone().set_requires_grad(true);
    replace_registered_parameter(*live.module, live.local_name(), fresh);
  }
  session.walker().refresh();
}

void run_materialize_step(RankSession& session, const InitPlan& plan) {
  if (!plan.meta_init || plan.has(Fault::ToEmptyNoInit)) return;
  MaterializeOptions options = options_for(plan);
  options.select = [&plan](const LiveTensor& live) {
    return live.derived() && !left_alone_by_fault(live, plan) && !plan.offloaded(live.name);
  };
  materialize(session.walker(), session.tracker(), options, &session.ledger());
}

void check_plan(const InitPlan& plan, const GPTConfig& config, const std::optional<LoRAConfig>& lora) {
  if (plan.world_size < 1) throw InputError("--world-size: must be at least 1");
  // Every simulated rank holds its own model and ledger in this one process.
  if (plan.world_size > kMaxSimulatedRanks) {
    throw InputError(fmt::format("--world-size: at most {} ranks are simulated in one process (got {})",
                                 kMaxSimulatedRanks, plan.world_size));
  }
  if (!plan.meta_init && plan.world_size > 1) {
    throw InputError("--init direct: multi-rank runs build on meta and broadcast; use --world-size 1 or --init meta");
  }
  for (Fault fault : plan.faults) {
    const std::string name(to_string(fault));
    if (plan.world_size < min_ranks(fault)) {
      throw InputError(fmt::format("--inject {}: needs several ranks (--world-size {} or more)", name, min_ranks(fault)));
    }
    if (fault == Fault::PartialCheckpoint && !plan.checkpoint) {
      throw InputError("--inject partial-checkpoint: needs --checkpoint FILE (the checkpoint whose keys it drops)");
    }
    if (needs_meta_build(fault) && !plan.meta_init) {
      throw InputError(fmt::format("--inject {}: reproduces a meta-device build; drop --init direct", name));
    }
    if (fault == Fault::LoraIndMeta && !(lora && lora->any_qkv())) {
      throw InputError("--inject lora-ind-meta: needs LoRA on query, key or value (--lora targets=...)");
    }
    if (fault == Fault::UntieOnMaterialize && !config.tie_embeddings) {
      throw InputError(fmt::format(
          "--inject untie-on-materialize: model '{}' has no tied weights (use a config with tie_embeddings: true, "
          "e.g. --model micro-tied)",
          config.name));
    }
    if (fault == Fault::RopeCacheMeta && config.rope_n_elem() == 0) {
      throw InputError(fmt::format("--inject rope-cache-meta: model '{}' has no rotary embedding", config.name));
    }
  }
}

}  // namespace metaguard
