#include "program/init_program.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "core/finding.hpp"
#include "program/slice_reader.hpp"
#include "walk/dtype_names.hpp"
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

// The tensors every rank holds whole (all of them, or under --strategy shard the adapters
// and buffers): rank 0 gives them their first values, the others receive them.
void init_replicated(RankSession& session, const InitPlan& plan, const ShardedTensors* shards) {
  auto replicated = [shards](const LiveTensor& live) { return !shards || !shards->contains(live.name); };
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
    options.select = [&plan, replicated](const LiveTensor& live) {
      return is_persistent(live.kind) && !plan.offloaded(live.name) && replicated(live);
    };
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

bool is_norm_weight(const ShardedTensor& tensor) {
  return tensor.name().find("norm") != std::string::npos || tensor.name().find("ln_f") != std::string::npos;
}

// A selector for one tensor (all its names) of a walk.
std::function<bool(const LiveTensor&)> only(const torch::Tensor& tensor) {
  const c10::TensorImpl* impl = tensor.unsafeGetTensorImpl();
  return [impl](const LiveTensor& live) { return live.tensor.unsafeGetTensorImpl() == impl; };
}

// --strategy shard, "init": every rank gives each frozen weight the checkpoint does not
// provide its slice, from the weight's init recipe and the run seed: the whole weight is
// made (the same bits replicate would have) and cut, one weight at a time, so a rank never
// holds more than its slices and one whole weight.
void init_slices(RankSession& session, const InitPlan& plan, ShardedTensors& shards) {
  std::unique_ptr<CheckpointKeyMap> keys;
  if (plan.checkpoint) {
    keys = std::make_unique<CheckpointKeyMap>(*plan.checkpoint, key_mapping(session), hidden_keys(session, plan));
  }
  MaterializeOptions options = options_for(plan);
  for (ShardedTensor& tensor : shards.tensors()) {
    if (!tensor.handle.is_meta() || plan.offloaded(tensor.name())) continue;
    if (keys && keys->provides(tensor.name())) continue;  // its slice is read at "load"
    // The faults: no init function for the norms; an empty slice left as it was built.
    if (plan.has(Fault::NoInitForModule) && is_norm_weight(tensor)) continue;
    if (plan.has(Fault::EmptyShard) && tensor.slice.empty()) continue;
    options.select = only(tensor.handle);
    materialize(session.walker(), session.tracker(), options, &session.ledger());
    if (!tensor.handle.is_meta()) shards.keep_slice(tensor, tensor.handle, plan.device);
  }
  shards.settle(plan.device);  // a direct build (one rank) made every weight whole
}

LoadOptions load_options(RankSession& session, const InitPlan& plan) {
  LoadOptions options;
  options.device = plan.device;
  options.threads = plan.threads;
  options.rank = session.rank();
  options.keys = key_mapping(session);
  options.hide_keys = hidden_keys(session, plan);
  options.select = [&plan](const LiveTensor& live) { return !plan.offloaded(live.name); };
  return options;
}

// --strategy shard, "load": this rank's slice of one frozen weight, straight from the file
// when the file stores it as the model does (SliceReader::read, no QKV reordering); false
// when it does not.
bool read_slice(RankSession& session, const InitPlan& plan, const CheckpointKeyMap& keys, SliceReader& reader,
                ShardedTensor& tensor, LoadResult& result) {
  const auto match = keys.find(tensor.name());
  if (!match || match->reorder_rows) return false;
  const CheckpointFile& file = *plan.checkpoint;
  const std::optional<uint64_t> bytes = reader.read(tensor, file.tensors()[match->entry], plan.device);
  if (!bytes) return false;
  session.tracker().mark_allocated(tensor.handle, plan.device.str());
  session.tracker().mark_written(tensor.handle, LedgerEvent::Loaded);
  const std::string detail = fmt::format("slice [{}, {}) from {} '{}'", tensor.slice.begin, tensor.slice.end,
                                         file.path(), match->key);
  for (const auto& name : tensor.names) {
    session.ledger().note(name, LedgerEvent::Loaded, detail);
    result.loaded.push_back(name);
  }
  result.bytes_read += *bytes;
  return true;
}

// Every rank reads only its slices' bytes of the frozen weights; rank 0 also loads the
// replicated tensors the file holds, as replicate does. A weight the file stores
// differently (another dtype, grouped QKV rows, a view) or lacks goes through the loader
// whole, which converts it or reports it, and is cut to its slice afterwards.
LoadResult load_sharded(RankSession& session, const InitPlan& plan, LoadOptions options) {
  ShardedTensors& shards = *session.shards();
  LoadResult result;
  if (session.rank() == 0) {
    options.select = [&plan, &shards](const LiveTensor& live) {
      return !plan.offloaded(live.name) && !shards.contains(live.name);
    };
    result = load_checkpoint(session.walker(), session.tracker(), *plan.checkpoint, options, &session.ledger());
  }
  const CheckpointKeyMap keys(*plan.checkpoint, options.keys, options.hide_keys);
  SliceReader reader(*plan.checkpoint, shards);
  for (ShardedTensor& tensor : shards.tensors()) {
    if (!tensor.handle.is_meta() || plan.offloaded(tensor.name())) continue;
    if (read_slice(session, plan, keys, reader, tensor, result)) continue;
    options.select = only(tensor.handle);
    LoadResult whole = load_checkpoint(session.walker(), session.tracker(), *plan.checkpoint, options, &session.ledger());
    result.loaded.insert(result.loaded.end(), whole.loaded.begin(), whole.loaded.end());
    result.findings.insert(result.findings.end(), whole.findings.begin(), whole.findings.end());
    result.bytes_read += whole.bytes_read;
    if (!tensor.handle.is_meta()) shards.keep_slice(tensor, tensor.handle, plan.device);
  }
  if (plan.slice_collective) reader.verify(*plan.slice_collective);
  sort_findings(result.findings);
  return result;
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
  const ShardedTensors* shards = session.shards();
  std::vector<std::string> names;
  for (const auto& live : session.walker().tensors()) {
    if (!is_persistent(live.kind) || !live.tensor.defined()) continue;
    if (shards && shards->contains(live.name)) continue;  // each rank holds its own slice
    names.push_back(live.name);
  }
  return names;
}

void run_init_step(RankSession& session, const InitPlan& plan) {
  if (!plan.offload.empty()) {
    for (const auto& live : session.walker().tensors()) {
      if (plan.offloaded(live.name)) session.ledger().note(live.name, LedgerEvent::Offloaded, "kept on meta on purpose by --offload");
    }
  }
  ShardedTensors* shards = plan.shard ? &session.start_sharding(plan.world_size) : nullptr;
  const bool every_rank_initializes = plan.has(Fault::ToEmptyNoInit) || plan.has(Fault::RankSeedDivergence);
  const bool initializes_replicas = session.rank() == 0 || !plan.meta_init || every_rank_initializes;
  // sync-from-meta: rank 0 skips its init and broadcasts what it has (nothing).
  if (initializes_replicas && !plan.has(Fault::SyncFromMeta)) init_replicated(session, plan, shards);
  if (shards) init_slices(session, plan, *shards);
}

LoadResult run_load_step(RankSession& session, const InitPlan& plan) {
  if (plan.shard && plan.checkpoint && !plan.has(Fault::ToEmptyNoInit)) {
    return load_sharded(session, plan, load_options(session, plan));
  }
  if (!plan.loads_on(session.rank())) return {};
  return load_checkpoint(session.walker(), session.tracker(), *plan.checkpoint, load_options(session, plan),
                         &session.ledger());
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
  if (plan.has(Fault::RopeNotRecomputedAfterShard)) {
    // The rotary cache gets storage (to_empty) and nobody computes it.
    MaterializeOptions storage_only = options;
    storage_only.fill = false;
    storage_only.select = [](const LiveTensor& live) { return live.local_name_is("cos") || live.local_name_is("sin"); };
    materialize(session.walker(), session.tracker(), storage_only, &session.ledger());
  }
  options.select = [&plan](const LiveTensor& live) {
    return live.derived() && !left_alone_by_fault(live, plan) && !plan.offloaded(live.name);
  };
  materialize(session.walker(), session.tracker(), options, &session.ledger());
}

namespace {

// Does some frozen weight of this model have an empty slice on `world_size` ranks? (A meta
// build: shapes only.)
bool has_empty_slice(const GPTConfig& config, const std::optional<LoRAConfig>& lora, int world_size) {
  GPT model = build_gpt(config, lora, BuildOptions{torch::kMeta});
  if (lora) model->mark_only_lora_trainable();
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad() && ShardLayout(item.value().numel(), world_size).empty_ranks() > 0) return true;
  }
  return false;
}

}  // namespace

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
    if (shard_only(fault) && !plan.shard) {
      throw InputError(fmt::format("--inject {}: reproduces a sharded run; add --strategy shard", name));
    }
    if (fault == Fault::EmptyShard && !has_empty_slice(config, lora, plan.world_size)) {
      throw InputError(fmt::format(
          "--inject empty-shard: no weight of model '{}' has an empty slice on {} ranks (a weight needs fewer "
          "elements than the slices before the last rank cover); use more ranks or a smaller model",
          config.name, plan.world_size));
    }
    if ((fault == Fault::RopeCacheMeta || fault == Fault::RopeNotRecomputedAfterShard) && config.rope_n_elem() == 0) {
      throw InputError(fmt::format("--inject rope-cache-meta: model '{}' has no rotary embedding", config.name));
    }
  }
}

}  // namespace metaguard
