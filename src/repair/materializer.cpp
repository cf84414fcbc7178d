#include "repair/materializer.hpp"

#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/hashing.hpp"
#include "core/parallel.hpp"
#include "repair/in_place.hpp"
#include "repair/recipe_fill.hpp"
#include "walk/tie_groups.hpp"

namespace metaguard {
namespace {

// All names that are one tensor (tied: the same TensorImpl registered twice).
struct TensorGroup {
  LiveTensor* primary;  // the member whose declarations fill it (see plan_job)
  std::vector<LiveTensor*> members;
  std::vector<std::string> names;
};

struct Job {
  TensorGroup group;
  FillSource source = FillSource::None;
  const torch::Tensor* provided = nullptr;
};

struct Note {
  std::string tensor;
  std::optional<LedgerEvent> event;  // none: nothing was written
  std::string detail;
};

std::vector<TensorGroup> group_by_identity(const std::vector<LiveTensor*>& tensors) {
  std::vector<TensorGroup> groups;
  for (auto& members : tie_groups(tensors)) {
    TensorGroup group{members.front(), members, {}};
    for (const LiveTensor* member : members) group.names.push_back(member->name);
    groups.push_back(std::move(group));
  }
  return groups;
}

Job plan_job(TensorGroup group, const MaterializeOptions& options) {
  Job job{std::move(group)};
  if (options.provided) {
    for (const auto& name : job.group.names) {
      auto it = options.provided->find(name);
      if (it != options.provided->end()) {
        job.source = FillSource::Provided;
        job.provided = &it->second;
        return job;
      }
    }
  }
  // A tied tensor is declared by the module that owns it, not by the one that borrows it:
  // fill from the first member that has a recipe (its name seeds the random stream).
  for (LiveTensor* member : job.group.members) {
    if (options.use_derived_recipes && member->derived_recipe()) {
      job.group.primary = member;
      job.source = FillSource::DerivedRecipe;
      return job;
    }
  }
  for (LiveTensor* member : job.group.members) {
    if (options.use_init_recipes && member->init_recipe()) {
      job.group.primary = member;
      job.source = FillSource::InitRecipe;
      return job;
    }
  }
  return job;
}

std::string no_source_reason(const LiveTensor& live, const MaterializeOptions& options) {
  if (live.kind == TensorKind::NonpersistentBuffer) {
    return "non-persistent buffer with no declared recipe (declare_derived) and no data provided";
  }
  return options.provided ? "not in the provided data and no declared init recipe"
                          : "no declared init recipe and no data provided";
}

// The event for values from `source`, in the ledger and the state tracker alike (none: no
// values).
std::optional<LedgerEvent> fill_event(FillSource source) {
  switch (source) {
    case FillSource::Provided: return LedgerEvent::Loaded;
    case FillSource::DerivedRecipe: return LedgerEvent::Recomputed;
    case FillSource::InitRecipe: return LedgerEvent::Initialized;
    case FillSource::None: break;
  }
  return std::nullopt;
}

// Fills `tensor` (already allocated) from the job's source; returns the ledger event.
Note fill_values(const Job& job, torch::Tensor& tensor, const MaterializeOptions& options, int threads) {
  torch::NoGradGuard no_grad;
  const LiveTensor& live = *job.group.primary;
  switch (job.source) {
    case FillSource::Provided:
      tensor.copy_(*job.provided);
      return {live.name, fill_event(job.source), ""};
    case FillSource::DerivedRecipe:
      tensor.copy_((*live.derived_recipe())(tensor.device()));
      return {live.name, fill_event(job.source), "from its declared recipe"};
    case FillSource::InitRecipe: {
      const InitRecipe& recipe = *live.init_recipe();
      fill_by_recipe(tensor, recipe, options.seed, live.name, threads);
      return {live.name, fill_event(job.source), fmt::format("{}, seed {}", recipe.describe(), options.seed)};
    }
    case FillSource::None: break;
  }
  return {live.name, std::nullopt, ""};
}

uint64_t dry_content_key(const Job& job, const MaterializeOptions& options) {
  const LiveTensor& live = *job.group.primary;
  switch (job.source) {
    case FillSource::Provided: return mix64(fnv1a64("provided:" + live.name));
    case FillSource::DerivedRecipe: return mix64(fnv1a64("derived:" + live.name));
    case FillSource::InitRecipe: return init_content_key(options.seed, live.name, *live.init_recipe());
    case FillSource::None: return 0;
  }
  return 0;
}

// Runs jobs: big tensors one at a time with every thread on their chunks, small ones
// spread over the threads. Either way each tensor's bits depend only on seed and name.
void run_jobs(std::vector<Job>& jobs, const MaterializeOptions& options,
              const std::function<Note(Job&, int)>& work, std::vector<Note>& notes) {
  std::mutex notes_mutex;
  auto record = [&](Note note) {
    if (!note.event) return;
    std::lock_guard<std::mutex> lock(notes_mutex);
    notes.push_back(std::move(note));
  };
  std::vector<Job*> small;
  for (auto& job : jobs) {
    if (job.group.primary->tensor.numel() > 4 * kInitChunkElements && options.threads > 1) {
      record(work(job, options.threads));
    } else {
      small.push_back(&job);
    }
  }
  const size_t workers = std::min(small.size(), static_cast<size_t>(std::max(1, options.threads)));
  run_parallel(static_cast<int>(workers), [&](size_t first, size_t step) {
    torch::NoGradGuard no_grad;  // grad mode is per thread: each worker needs its own
    for (size_t k = first; k < small.size(); k += step) record(work(*small[k], 1));
  });
}

void add_notes(Ledger* ledger, const std::vector<Job>& jobs, const std::vector<Note>& notes) {
  if (!ledger) return;
  std::unordered_map<std::string, const Job*> job_of;
  for (const auto& job : jobs) job_of.emplace(job.group.primary->name, &job);
  for (const auto& note : notes) {
    auto it = job_of.find(note.tensor);
    if (it == job_of.end()) continue;
    for (const auto& alias : it->second->group.names) ledger->note(alias, *note.event, note.detail);
  }
}

}  // namespace

uint64_t init_content_key(uint64_t seed, const std::string& name, const InitRecipe& recipe) {
  const bool random = recipe.kind == InitRecipe::Kind::Uniform || recipe.kind == InitRecipe::Kind::Normal ||
                      recipe.kind == InitRecipe::Kind::Custom;
  return mix64((random ? tensor_seed(seed, name) : fnv1a64(name)) ^ fnv1a64(recipe.describe()));
}

namespace {

// Groups `targets` by identity and picks each group's source; groups without one are
// skipped (reported, never zero-filled) unless they only need storage (`fill` is false).
std::vector<Job> plan_jobs(std::vector<LiveTensor*> targets, const MaterializeOptions& options, bool needs_source,
                           MaterializeResult& result) {
  std::vector<Job> jobs;
  for (auto& group : group_by_identity(targets)) {
    Job job = plan_job(std::move(group), options);
    if (job.source == FillSource::None && needs_source) {
      for (const auto& name : job.group.names) {
        result.skipped.emplace_back(name, no_source_reason(*job.group.primary, options));
      }
      continue;
    }
    for (const auto& name : job.group.names) result.materialized.push_back(name);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// Writes a job's values into its (allocated) tensor and tells the tracker; in a dry run
// only the tracker learns what would have been written.
Note write_job(const Job& job, TensorStateTracker& tracker, const MaterializeOptions& options, int threads) {
  torch::Tensor& tensor = job.group.primary->tensor;
  if (tracker.dry_run()) {
    tracker.mark_written(tensor, fill_event(job.source).value_or(LedgerEvent::Initialized), dry_content_key(job, options));
    return {job.group.primary->name, fill_event(job.source), ""};
  }
  Note note = fill_values(job, tensor, options, threads);
  tracker.mark_written(tensor, fill_event(job.source).value_or(LedgerEvent::Initialized));
  return note;
}

}  // namespace

MaterializeResult materialize(ModuleWalker& walker, TensorStateTracker& tracker, const MaterializeOptions& options,
                              Ledger* ledger) {
  walker.refresh();  // the tree may have changed since the last walk
  std::vector<LiveTensor*> candidates;
  for (auto& live : walker.tensors()) {
    if (!live.tensor.defined() || !live.tensor.is_meta()) continue;
    if (tracker.dry_run() && tracker.state_of(live.tensor)) continue;  // already (virtually) materialized
    if (options.select && !options.select(live)) continue;
    candidates.push_back(&live);
  }
  MaterializeResult result;
  std::vector<Job> jobs = plan_jobs(std::move(candidates), options, options.fill, result);
  const std::string device = options.device.str();
  std::vector<Note> notes;
  run_jobs(jobs, options, [&](Job& job, int threads) -> Note {
    torch::Tensor& tensor = job.group.primary->tensor;
    if (!tracker.dry_run()) swap_in_place(tensor, torch::empty(tensor.sizes(), tensor.options().device(options.device)));
    tracker.mark_allocated(tensor, device);
    return options.fill ? write_job(job, tracker, options, threads) : Note{};
  }, notes);
  add_notes(ledger, jobs, notes);
  return result;
}

MaterializeResult refill(ModuleWalker& walker, TensorStateTracker& tracker, const std::vector<std::string>& names,
                         const MaterializeOptions& options, Ledger* ledger) {
  walker.refresh();
  std::vector<LiveTensor*> targets;
  for (const auto& name : names) {
    LiveTensor* live = walker.find(name);
    if (live && live->tensor.defined()) targets.push_back(live);
  }
  MaterializeResult result;
  std::vector<Job> jobs = plan_jobs(std::move(targets), options, /*needs_source=*/true, result);
  std::vector<Note> notes;
  run_jobs(jobs, options, [&](Job& job, int threads) { return write_job(job, tracker, options, threads); }, notes);
  add_notes(ledger, jobs, notes);
  return result;
}

}  // namespace metaguard
