#include "load/checkpoint_loader.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "checkpoint/tensor_layout.hpp"
#include "core/hashing.hpp"
#include "core/errors.hpp"
#include "core/parallel.hpp"
#include "load/qkv_layout.hpp"
#include "load/storage_reader.hpp"
#include "model/gpt.hpp"
#include "repair/in_place.hpp"
#include "walk/dtype_names.hpp"
#include "walk/tie_groups.hpp"

namespace metaguard {
namespace {

// One model tensor (all the names it is registered under) and the entry that fills it.
struct Job {
  LiveTensor* target = nullptr;     // any member: they share one TensorImpl
  std::vector<std::string> names;   // every name of the tensor
  size_t entry = 0;                 // index into file.tensors()
  std::string key;                  // the checkpoint key it was found under
  bool convert = false;             // the model's dtype differs: convert while loading
  bool reorder_rows = false;        // grouped QKV rows, stored interleaved in the model
};

// Everything read from one storage record: read once, then handed to its jobs.
struct StorageWork {
  size_t storage = 0;
  std::vector<const Job*> jobs;
  int64_t first_element = 0;  // the range of the storage the jobs' views reach
  int64_t end_element = 0;
};

struct Note {
  std::string tensor;
  LedgerEvent event;
  std::string detail;
};

std::string shape_text(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// The loader's findings: placed at the caller's rank and phase, about the file at `path`.
class FindingMaker : public FindingPlace {
 public:
  FindingMaker(const LoadOptions& options, const std::string& path) : FindingPlace{options.rank, options.phase}, path_(path) {}
  const std::string& path() const { return path_; }

 private:
  const std::string& path_;
};

std::string missing_message(const LiveTensor& live, const FindingMaker& maker, const CheckpointKeyMap& keys) {
  const std::string name = keys.layout() == QkvLayout::Grouped ? grouped_key(live.name) : live.name;
  std::string looked_up = fmt::format("'{}'", name);
  std::string base = to_base_key(name);
  if (keys.mapping() == KeyMapping::LoraBase && base != name) looked_up += fmt::format(" or '{}'", base);
  std::string state = live.tensor.is_meta() ? "so it stays on meta" : "so it keeps the values it had";
  return fmt::format("{} {} is not in checkpoint '{}' (looked up as {}){}, {}.", kind_label(live.kind), live.name,
                     maker.path(), looked_up, maker.where(), state);
}

uint64_t dry_content_key(const CheckpointStorage& storage, const CheckpointTensor& entry, c10::ScalarType target) {
  // Equal keys mean equal values: same record bytes (CRC-32, position, size), same view,
  // same dtype after conversion.
  uint64_t key = mix64(fnv1a64("load:" + storage.record + ":" + storage.key) ^ storage.crc32.value_or(0));
  key = mix64(key ^ storage.file_offset.value_or(0) ^ (static_cast<uint64_t>(storage.nbytes) << 20));
  key = mix64(key ^ static_cast<uint64_t>(entry.storage_offset));
  for (int64_t size : entry.shape) key = mix64(key ^ static_cast<uint64_t>(size));
  for (int64_t stride : entry.stride) key = mix64(key + static_cast<uint64_t>(stride));
  return mix64(key ^ fnv1a64(dtype_name(target)));
}

std::string loaded_detail(const std::string& path, const Job& job, const CheckpointTensor& entry) {
  std::string detail = fmt::format("from {} '{}'", path, job.key);
  if (job.convert) detail += fmt::format(", converted from {}", entry.dtype);
  if (job.reorder_rows) detail += ", rows reordered from LitGPT's grouped QKV layout";
  return detail;
}

// The model's attention geometry, which converting a grouped QKV checkpoint needs.
std::optional<QkvGeometry> model_geometry(ModuleWalker& walker) {
  if (const auto* gpt = dynamic_cast<const GPTImpl*>(&walker.root())) return qkv_geometry(gpt->config());
  return std::nullopt;
}

// Reads one storage (the range its jobs need) and gives every job its values.
class StorageLoader {
 public:
  StorageLoader(const CheckpointFile& file, const StorageReader& reader, TensorStateTracker& tracker,
                const LoadOptions& options, std::optional<QkvGeometry> geometry)
      : file_(file), reader_(reader), tracker_(tracker), options_(options), device_(options.device.str()),
        geometry_(geometry) {}

  // Returns the bytes read.
  uint64_t run(const StorageWork& work, std::vector<Note>& notes) const {
    torch::NoGradGuard no_grad;
    const CheckpointStorage& storage = file_.storages()[work.storage];
    const c10::ScalarType dtype = *scalar_type_from_name(storage.dtype);
    const int64_t element = static_cast<int64_t>(c10::elementSize(dtype));
    const uint64_t begin = static_cast<uint64_t>(work.first_element * element);
    const uint64_t end = static_cast<uint64_t>(work.end_element * element);

    // A single view onto an existing CPU tensor of the same layout: its bytes go straight
    // into that tensor's memory.
    if (work.jobs.size() == 1 && fits_in_place(*work.jobs[0])) {
      const Job& job = *work.jobs[0];
      const CheckpointTensor& entry = file_.tensors()[job.entry];
      torch::Tensor& target = job.target->tensor;
      const uint64_t first = static_cast<uint64_t>(entry.storage_offset * element);
      const uint64_t size = static_cast<uint64_t>(target.numel() * element);
      reader_.read(work.storage, first, first + size, static_cast<char*>(target.data_ptr()));
      finish(job, notes);
      return size;
    }

    torch::Tensor buffer = torch::empty({work.end_element - work.first_element},
                                        torch::TensorOptions().dtype(dtype).device(torch::kCPU));
    reader_.read(work.storage, begin, end, static_cast<char*>(buffer.data_ptr()));
    if (!options_.device.is_cpu()) buffer = buffer.to(options_.device);
    for (const Job* job : work.jobs) {
      const CheckpointTensor& entry = file_.tensors()[job->entry];
      torch::Tensor& target = job->target->tensor;
      const int64_t offset = entry.storage_offset - work.first_element;
      if (target.is_meta() && !job->convert) {
        // The buffer becomes the tensor's storage: no copy, and views of one record stay
        // views of one storage.
        torch::Tensor view = torch::empty({0}, buffer.options()).set_(buffer.storage(), offset, entry.shape, entry.stride);
        swap_in_place(target, view);
        tracker_.mark_allocated(target, device_);
      } else {
        torch::Tensor view = buffer.as_strided(entry.shape, entry.stride, offset);
        if (target.is_meta()) {
          swap_in_place(target, torch::empty(entry.shape, target.options().device(options_.device)));
          tracker_.mark_allocated(target, device_);
        }
        target.copy_(view);
      }
      finish(*job, notes);
    }
    return end - begin;
  }

 private:
  bool fits_in_place(const Job& job) const {
    const CheckpointTensor& entry = file_.tensors()[job.entry];
    const torch::Tensor& target = job.target->tensor;
    return !target.is_meta() && !job.convert && target.device().is_cpu() && target.is_contiguous() &&
           entry.contiguous && target.numel() > 0;
  }

  void finish(const Job& job, std::vector<Note>& notes) const {
    if (job.reorder_rows) {
      torch::Tensor& target = job.target->tensor;
      target.copy_(interleaved_from_grouped(target, *geometry_));
    }
    tracker_.mark_written(job.target->tensor, LedgerEvent::Loaded);
    const std::string detail = loaded_detail(file_.path(), job, file_.tensors()[job.entry]);
    for (const auto& name : job.names) notes.push_back({name, LedgerEvent::Loaded, detail});
  }

  const CheckpointFile& file_;
  const StorageReader& reader_;
  TensorStateTracker& tracker_;
  const LoadOptions& options_;
  std::string device_;
  std::optional<QkvGeometry> geometry_;
};

// Runs the storages' work: stored records on `threads` workers, biggest first; deflated
// ones (libzip streams are single-threaded) on this thread. An error stops the rest and is
// rethrown once every worker has finished.
uint64_t run_storage_work(std::vector<StorageWork>& work, const StorageLoader& loader, const StorageReader& reader,
                          int threads, std::vector<Note>& notes) {
  std::vector<const StorageWork*> parallel, serial;
  for (const auto& item : work) (reader.direct(item.storage) ? parallel : serial).push_back(&item);
  std::stable_sort(parallel.begin(), parallel.end(), [](const StorageWork* a, const StorageWork* b) {
    return a->end_element - a->first_element > b->end_element - b->first_element;
  });

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  auto worker = [&](int, int) {
    std::vector<Note> mine;
    try {
      for (size_t k = next++; k < parallel.size() && !failed; k = next++) bytes += loader.run(*parallel[k], mine);
    } catch (...) {
      failed = true;  // the other workers stop at their next storage
      throw;
    }
    std::lock_guard<std::mutex> lock(mutex);
    notes.insert(notes.end(), mine.begin(), mine.end());
  };
  run_parallel(static_cast<int>(std::min(parallel.size(), static_cast<size_t>(std::max(1, threads)))), worker);
  for (const StorageWork* item : serial) bytes += loader.run(*item, notes);
  return bytes;
}

// What loading decided before touching a tensor: which entry fills which tensor (jobs), and the
// findings and ledger notes for keys that are missing, meta, mismatched or unexpected.
struct LoadPlan {
  std::vector<Job> jobs;
  std::vector<Finding> findings;
  std::vector<Note> notes;
};

// One tie group (the owner first; its key is tried first): a job, or the findings that say why not.
void plan_group(const std::vector<LiveTensor*>& group, const CheckpointFile& file, const CheckpointKeyMap& keys,
                const FindingMaker& maker, bool have_geometry, std::vector<bool>& used, LoadPlan& plan) {
  const auto& entries = file.tensors();
  std::optional<CheckpointKeyMap::Match> match;
  for (LiveTensor* member : group) {
    auto found = keys.find(member->name);
    if (!found) continue;
    used[found->entry] = true;  // an alias's own key is consumed too, not unexpected
    if (!match) match = std::move(found);
  }
  LiveTensor& live = *group.front();
  if (!match) {
    for (LiveTensor* member : group) {
      // A base checkpoint holds no adapters: they are initialized, not loaded.
      if (keys.mapping() == KeyMapping::LoraBase && keys.base_only() && is_lora_parameter_name(member->name)) continue;
      Finding missing = maker.make(
          "missing-key", Severity::Error, member->name, missing_message(*member, maker, keys),
          "use the checkpoint written for this model configuration, or initialize the tensors it lacks "
          "explicitly (metaguard's --repair fills them from their init recipe)");
      missing.repair = RepairKind::Materialize;  // from its init recipe, like a meta tensor
      plan.findings.push_back(std::move(missing));
      plan.notes.push_back({member->name, LedgerEvent::NotLoaded, fmt::format("not in {}", file.path())});
    }
    return;
  }
  const CheckpointTensor& entry = entries[match->entry];
  const torch::Tensor& tensor = live.tensor;
  if (entry.is_meta()) {
    plan.findings.push_back(maker.make(
        "meta-checkpoint-entry", Severity::Error, match->key,
        fmt::format("Checkpoint '{}' stores '{}' as a meta tensor (no data){}, so {} {} could not be loaded.",
                    file.path(), match->key, maker.where(), kind_label(live.kind), live.name),
        "re-save the checkpoint after the tensor was loaded or initialized"));
    return;
  }
  if (tensor.sizes() != c10::IntArrayRef(entry.shape)) {
    plan.findings.push_back(maker.make(
        "shape-mismatch", Severity::Error, live.name,
        fmt::format("{} {} has shape {} but checkpoint '{}' stores '{}' as {}{}; it was not loaded{}.",
                    kind_label(live.kind), live.name, shape_text(tensor.sizes()), file.path(), match->key,
                    shape_text(entry.shape), maker.where(), tensor.is_meta() ? " and stays on meta" : ""),
        "use the model configuration the checkpoint was written for, or convert the checkpoint"));
    return;
  }
  Job job;
  job.target = &live;
  for (LiveTensor* member : group) job.names.push_back(member->name);
  job.entry = match->entry;
  job.key = match->key;
  job.reorder_rows = match->reorder_rows;
  if (job.reorder_rows && !have_geometry) {
    throw InputError(fmt::format("{}: '{}' is in LitGPT's grouped QKV layout, which only a GPT model can be loaded from",
                                 file.path(), match->key));
  }
  const std::string model_dtype = dtype_name(tensor.scalar_type());
  if (entry.dtype != model_dtype) {
    job.convert = true;
    plan.findings.push_back(maker.make(
        "dtype-mismatch", Severity::Warning, live.name,
        fmt::format("{} {} is {} but checkpoint '{}' stores '{}' as {}{}; it was converted while loading, "
                    "which can lose precision.",
                    kind_label(live.kind), live.name, model_dtype, file.path(), match->key, entry.dtype,
                    maker.where()),
        "load in the checkpoint's dtype, or convert the checkpoint once, deliberately"));
  }
  plan.jobs.push_back(std::move(job));
}

// Keys of tensors the caller did not select are the model's all the same: not unexpected.
LoadPlan plan_load(ModuleWalker& walker, const CheckpointFile& file, const CheckpointKeyMap& keys,
                   const FindingMaker& maker, const LoadOptions& options, bool have_geometry) {
  const auto& entries = file.tensors();
  LoadPlan plan;
  std::vector<bool> used(entries.size(), false);
  std::vector<LiveTensor*> candidates;
  for (auto& live : walker.tensors()) {
    if (!is_persistent(live.kind) || !live.tensor.defined()) continue;
    if (options.select && !options.select(live)) {
      if (auto found = keys.find(live.name)) used[found->entry] = true;
      continue;
    }
    candidates.push_back(&live);
  }
  for (const auto& group : tie_groups(candidates)) plan_group(group, file, keys, maker, have_geometry, used, plan);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (used[i] || keys.hidden(entries[i].name)) continue;
    plan.findings.push_back(maker.make(
        "unexpected-key", Severity::Warning, entries[i].name,
        fmt::format("Checkpoint '{}' holds '{}' ({} {}){}, which the model has no tensor for; it was not loaded.",
                    file.path(), entries[i].name, entries[i].dtype, shape_text(entries[i].shape), maker.where()),
        "check that the model configuration matches the checkpoint; rename or drop the key when converting"));
  }
  return plan;
}

// Carries the jobs out: in a dry run, metadata only; otherwise every storage read once, in
// parallel where the file allows. Returns the bytes read; `notes` gets what was loaded.
uint64_t execute_load(const std::vector<Job>& jobs, const CheckpointFile& file, TensorStateTracker& tracker,
                      const LoadOptions& options, const std::optional<QkvGeometry>& geometry, std::vector<Note>& notes) {
  const auto& entries = file.tensors();
  const std::string device = options.device.str();
  std::vector<StorageWork> work;
  std::unordered_map<size_t, size_t> work_of_storage;
  for (const Job& job : jobs) {
    const CheckpointTensor& entry = entries[job.entry];
    torch::Tensor& target = job.target->tensor;
    if (tracker.dry_run()) {
      // Metadata only: where the tensor would be and what stands for its values.
      if (!tracker.state_of(target)) tracker.mark_allocated(target, device);
      // Reordered rows are other values than the record's own order.
      const uint64_t reordered = job.reorder_rows ? fnv1a64("qkv rows reordered") : 0;
      tracker.mark_written(target, LedgerEvent::Loaded,
                           dry_content_key(file.storages()[*entry.storage], entry, target.scalar_type()) ^ reordered);
      const std::string detail = loaded_detail(file.path(), job, entry);
      for (const auto& name : job.names) notes.push_back({name, LedgerEvent::Loaded, detail});
      continue;
    }
    if (entry.numel == 0) {
      // Nothing to read: an empty tensor of the right layout.
      if (target.is_meta()) {
        swap_in_place(target, torch::empty_strided(entry.shape, entry.stride, target.options().device(options.device)));
        tracker.mark_allocated(target, device);
      }
      tracker.mark_written(target, LedgerEvent::Loaded);
      for (const auto& name : job.names) notes.push_back({name, LedgerEvent::Loaded, loaded_detail(file.path(), job, entry)});
      continue;
    }
    auto [it, inserted] = work_of_storage.emplace(*entry.storage, work.size());
    if (inserted) work.push_back({*entry.storage, {}, entry.storage_offset, 0});
    StorageWork& item = work[it->second];
    item.jobs.push_back(&job);
    item.first_element = std::min(item.first_element, entry.storage_offset);
    item.end_element = std::max(item.end_element, *required_storage_numel(entry.shape, entry.stride, entry.storage_offset));
  }
  if (!tracker.dry_run() && !work.empty()) {
    StorageReader reader(file);
    StorageLoader loader(file, reader, tracker, options, geometry);
    return run_storage_work(work, loader, reader, options.threads, notes);
  }
  return 0;
}

}  // namespace

LoadResult load_checkpoint(ModuleWalker& walker, TensorStateTracker& tracker, const CheckpointFile& file,
                           const LoadOptions& options, Ledger* ledger) {
  walker.refresh();  // the tree may have changed since the last walk
  const CheckpointKeyMap keys(file, options.keys, options.hide_keys);
  const std::optional<QkvGeometry> geometry = model_geometry(walker);
  LoadPlan plan = plan_load(walker, file, keys, FindingMaker(options, file.path()), options, geometry.has_value());
  LoadResult result;
  result.findings = std::move(plan.findings);
  std::vector<Note>& notes = plan.notes;
  try {
    result.bytes_read = execute_load(plan.jobs, file, tracker, options, geometry, notes);
  } catch (...) {
    // What did load keeps its ledger notes; the caller sees the error.
    if (ledger) {
      for (const auto& note : notes) ledger->note(note.tensor, note.event, note.detail);
    }
    throw;
  }

  std::stable_sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) { return a.tensor < b.tensor; });
  for (const auto& note : notes) {
    if (note.event == LedgerEvent::Loaded) result.loaded.push_back(note.tensor);
    if (ledger) ledger->note(note.tensor, note.event, note.detail);
  }
  sort_findings(result.findings);
  return result;
}

}  // namespace metaguard
