#include "walk/module_walker.hpp"

#include <exception>

#include <torch/torch.h>

#include "core/parallel.hpp"
#include "walk/module_registries.hpp"
#include "walk/tensor_facts.hpp"

namespace metaguard {
namespace {

std::string join_name(const std::string& prefix, const std::string& local) {
  return prefix.empty() ? local : prefix + "." + local;
}

bool recipe_matches(const torch::Tensor& tensor, const DerivedRecipe& recipe) {
  torch::NoGradGuard no_grad;
  torch::Tensor expected = recipe(tensor.device());
  if (!expected.defined() || expected.sizes() != tensor.sizes()) return false;
  return torch::equal(expected.to(tensor.scalar_type()), tensor);
}


}  // namespace

ModuleWalker::ModuleWalker(torch::nn::Module& root, const TensorStateTracker* tracker)
    : root_(root), tracker_(tracker) {
  rewalk();
}

namespace {

struct ModuleVisit {
  std::string prefix;  // qualified name of the module ("" for the root)
  torch::nn::Module* module;
  TensorDeclarations* declarations;
};

// Pre-order, the root first and each module before its children: the order of
// named_modules() and so of named_parameters().
void visit_modules(torch::nn::Module& module, std::string prefix, std::vector<ModuleVisit>& out) {
  out.push_back({std::move(prefix), &module, dynamic_cast<TensorDeclarations*>(&module)});
  const size_t self = out.size() - 1;
  for (const auto& child : child_registry(module)) {
    visit_modules(*child.value(), join_name(out[self].prefix, child.key()), out);
  }
}

}  // namespace

void ModuleWalker::rewalk() {
  tensors_.clear();
  index_.clear();
  slots_.clear();
  // The root is taken by reference so a module on the stack can be walked too.
  std::vector<ModuleVisit> modules;
  visit_modules(root_, "", modules);
  size_t total = 0;
  for (const auto& visit : modules) {
    total += parameter_registry(*visit.module).size() + buffer_registry(*visit.module).size() +
             (visit.declarations ? visit.declarations->caches().size() : 0);
  }
  tensors_.reserve(total);  // names are built once, straight into their final place
  slots_.reserve(modules.size());

  auto add = [&](const ModuleVisit& visit, const std::string& local, TensorKind kind,
                 const torch::Tensor& tensor) -> LiveTensor& {
    LiveTensor& live = tensors_.emplace_back();
    live.name = join_name(visit.prefix, local);
    live.local_start = live.name.size() - local.size();
    live.kind = kind;
    live.module = visit.module;
    live.declarations = visit.declarations;
    live.tensor = tensor;
    if (live.declarations) {
      live.derived_recipe_ = live.declarations->derived_recipe(local);
      live.init_recipe_ = live.declarations->init_recipe(local);
    }
    return live;
  };
  // Parameters of every module, then buffers, then declared caches.
  for (const auto& visit : modules) {
    ModuleSlots slot{visit.module, tensors_.size(), 0};
    for (const auto& parameter : parameter_registry(*visit.module)) {
      if (!parameter.value().defined()) continue;  // as named_parameters() skips them
      add(visit, parameter.key(), TensorKind::Parameter, parameter.value());
    }
    slot.parameter_count = tensors_.size() - slot.first_parameter;
    slots_.push_back(slot);
  }
  for (const auto& visit : modules) {
    for (const auto& buffer : buffer_registry(*visit.module)) {
      if (!buffer.value().defined()) continue;  // as named_buffers() skips them
      bool nonpersistent = visit.declarations && visit.declarations->is_nonpersistent(buffer.key());
      add(visit, buffer.key(), nonpersistent ? TensorKind::NonpersistentBuffer : TensorKind::Buffer, buffer.value());
    }
  }
  for (const auto& visit : modules) {
    if (!visit.declarations) continue;
    for (const auto& [name, cache] : visit.declarations->caches()) {
      add(visit, name, TensorKind::NonpersistentBuffer, cache.member ? *cache.member : torch::Tensor()).cache_member =
          cache.member;
    }
  }
}

bool ModuleWalker::refresh_handles() {
  // Parameters can be replaced in a registry (a subclass may assign parameters_[name]), so
  // they are re-read, straight from the registry. Buffers cannot: the only public way to
  // change buffers_ is register_buffer, which refuses existing names, so the handles taken
  // at the walk stay right (a buffer registered later needs rewalk()).
  for (const auto& slot : slots_) {
    const auto& registry = parameter_registry(*slot.module);
    size_t index = slot.first_parameter;
    for (const auto& item : registry) {
      if (!item.value().defined()) continue;
      if (index == slot.first_parameter + slot.parameter_count) return false;
      tensors_[index++].tensor = item.value();
    }
    if (index != slot.first_parameter + slot.parameter_count) return false;
  }
  for (auto& live : tensors_) {
    if (live.cache_member) live.tensor = *live.cache_member;
  }
  return true;
}

LiveTensor* ModuleWalker::find(const std::string& name) {
  if (index_.size() != tensors_.size()) {  // built on first use: most walks never look up a name
    index_.clear();
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void ModuleWalker::describe(const LiveTensor& live, const SnapshotOptions& options, TensorRecord& r) const {
  const torch::Tensor& t = live.tensor;
  r.name = live.name;
  r.kind = live.kind;
  describe_tensor(t, r);
  r.derived = live.derived();

  std::optional<TensorStateTracker::State> state = tracker_ ? tracker_->state_of(t) : std::nullopt;
  if (tracker_ && tracker_->dry_run()) {
    // Preflight: the tensor stays meta; the tracker says where it would be and how filled.
    if (state) {
      r.device = state->device;
      r.uninitialized = !state->written;
      if (state->written && state->content_key != 0) r.content_hash = state->content_key;
      if (r.derived && state->written) r.derived_current = state->written_by == LedgerEvent::Recomputed;
    }
    return;
  }
  r.uninitialized = tracker_ && tracker_->is_unwritten(t, state);
  if (options.verify_derived && r.derived && !r.is_meta() && !r.uninitialized) {
    r.derived_current = recipe_matches(t, *live.derived_recipe());
  }
}

Inventory ModuleWalker::snapshot(const SnapshotOptions& options) {
  refresh();
  std::vector<size_t> live_index;
  live_index.reserve(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].tensor.defined()) live_index.push_back(i);
  }
  std::vector<TensorRecord> records(live_index.size());
  const int describers = live_index.size() >= kParallelWalkTensors ? std::max(1, options.describe_threads) : 1;
  run_parallel(describers, [&](size_t first, size_t step) {
    // Contiguous blocks: each thread writes its own stretch of records.
    const size_t block = (records.size() + step - 1) / step;
    for (size_t k = first * block; k < std::min(records.size(), (first + 1) * block); ++k) {
      describe(tensors_[live_index[k]], options, records[k]);
    }
  });
  if (options.hash_contents && !(tracker_ && tracker_->dry_run())) {
    // Tensors are hashed independently, so the split over threads changes nothing.
    run_parallel(std::max(1, options.threads), [&](size_t first, size_t step) {
      for (size_t k = first; k < records.size(); k += step) {
        if (records[k].has_data()) records[k].content_hash = content_hash(tensors_[live_index[k]].tensor);
      }
    });
  }
  // Storage ids: when every tensor still has the storage it had at the last snapshot (the
  // usual case between phases), the last ids are still right; otherwise number them again.
  bool same_storages = records.size() == last_storage_keys_.size();
  for (size_t k = 0; same_storages && k < records.size(); ++k) same_storages = records[k].storage_key == last_storage_keys_[k];
  Inventory inventory(std::move(records));
  if (same_storages) {
    auto& tensors = inventory.mutable_tensors();
    for (size_t k = 0; k < tensors.size(); ++k) tensors[k].storage = last_storage_ids_[k];
  } else {
    inventory.assign_storage_ids();
    last_storage_keys_.clear();
    last_storage_ids_.clear();
    last_storage_keys_.reserve(inventory.tensors().size());
    last_storage_ids_.reserve(inventory.tensors().size());
    for (const auto& record : inventory.tensors()) {
      last_storage_keys_.push_back(record.storage_key);
      last_storage_ids_.push_back(record.storage);
    }
  }
  return inventory;
}

}  // namespace metaguard
