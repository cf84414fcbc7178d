#include "train/run_checkpoint.hpp"

#include <filesystem>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <torch/torch.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_writer.hpp"
#include "compat/torch_compat.hpp"
#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "model/gpt.hpp"
#include "program/slice_reader.hpp"
#include "repair/in_place.hpp"
#include "train/saved_state_dict.hpp"
#include "walk/dtype_names.hpp"

namespace metaguard {
namespace fs = std::filesystem;
namespace {

// Writes tensors as one state dict; names that are one tensor (tied) share one storage.
void write_named(const std::string& path, const NamedTensors& named) {
  std::vector<torch::Tensor> keep;  // the bytes the writer borrows
  std::vector<WriteStorage> storages;
  std::vector<WriteTensor> tensors;
  std::unordered_map<const c10::TensorImpl*, size_t> index;
  for (const auto& [name, tensor] : named) {
    auto [it, inserted] = index.emplace(tensor.unsafeGetTensorImpl(), storages.size());
    if (inserted) {
      keep.push_back(tensor.detach().to(torch::kCPU).contiguous());
      const torch::Tensor& cpu = keep.back();
      storages.push_back({dtype_name(cpu.scalar_type()),
                          std::string_view(static_cast<const char*>(cpu.data_ptr()), cpu.nbytes()), "cpu"});
    }
    tensors.push_back(whole_storage_tensor(name, dtype_name(tensor.scalar_type()), tensor.sizes().vec(), it->second));
  }
  write_torch_checkpoint(path, storages, tensors);
}

std::string step_folder(int64_t step) { return fmt::format("checkpoints/step-{:06d}", step); }

}  // namespace

void RunCheckpoint::save(const std::string& dir, RunState state, const NamedTensors& weights,
                         const torch::optim::AdamW& optimizer, const NamedTensors& trainable) {
  const std::string folder = step_folder(state.step);
  std::error_code error;
  fs::create_directories(fs::path(dir) / folder, error);
  if (error) throw InputError(fmt::format("--out '{}': cannot create '{}': {}", dir, folder, error.message()));

  state.weights = folder + (state.full ? "/model.pt" : "/lora.pt");
  state.optimizer = folder + "/optimizer.pt";
  write_named((fs::path(dir) / state.weights).string(), weights);

  NamedTensors moments;
  for (const auto& [name, parameter] : trainable) {
    auto it = optimizer.state().find(compat::optimizer_state_key(parameter));
    if (it == optimizer.state().end()) continue;  // never stepped
    const auto& adam = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    moments.emplace_back("exp_avg." + name, adam.exp_avg());
    moments.emplace_back("exp_avg_sq." + name, adam.exp_avg_sq());
    moments.emplace_back("step." + name, torch::tensor({adam.step()}, torch::kInt64));
  }
  write_named((fs::path(dir) / state.optimizer).string(), moments);

  // The switch: from here on run.json names the new files.
  write_file_atomically((fs::path(dir) / "run.json").string(), state.to_json().dump(2) + "\n");
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "checkpoints", error)) {
    if (entry.path().filename().string().rfind("step-", 0) == 0 && entry.path() != fs::path(dir) / folder) {
      fs::remove_all(entry.path(), error);
    }
  }
}

RunState RunCheckpoint::read(const std::string& dir, const std::string& flag) {
  const std::string path = (fs::path(dir) / "run.json").string();
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw InputError(fmt::format("{} '{}': is not a directory", flag, dir));
  if (!fs::exists(path, error)) {
    throw InputError(fmt::format("{} '{}': holds no run.json (not a metaguard train --out directory with a checkpoint)", flag, dir));
  }
  const std::string text = read_file(path);
  if (text.size() > (64u << 20)) throw InputError(fmt::format("{} '{}': run.json is implausibly large", flag, dir));
  nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded()) throw InputError(fmt::format("{} '{}': run.json is not valid JSON", flag, dir));
  return RunState::from_json(document, fmt::format("{} '{}'", flag, path));
}

LoadResult RunCheckpoint::load_weights(const std::string& dir, const RunState& state, RankSession& session,
                                                     torch::Device device, SliceGatherer* slice_collective) {
  SavedStateDict saved((fs::path(dir) / state.weights).string());
  const std::string& path = saved.path();
  session.walker().refresh();
  // Everything the file must hold: the adapters, or every parameter and persistent buffer.
  for (const auto& live : session.walker().tensors()) {
    const bool adapter = live.kind == TensorKind::Parameter && is_lora_parameter_name(live.name);
    const bool expected = state.full ? is_persistent(live.kind) : adapter;
    if (expected && live.tensor.defined() && !saved.find(live.name)) {
      throw InputError(fmt::format("--resume '{}': '{}' lacks '{}'", dir, path, live.name));
    }
  }
  torch::NoGradGuard no_grad;
  LoadResult loaded;
  ShardedTensors* shards = session.shards();
  std::optional<SliceReader> slices;
  if (shards) slices.emplace(saved.file(), *shards);
  for (auto& live : session.walker().tensors()) {
    const CheckpointTensor* entry = saved.find(live.name);
    if (!entry || !live.tensor.defined()) continue;
    // --strategy shard: every rank reads its slice of a frozen weight; the rest comes from
    // rank 0 at "broadcast", as in a replicated run.
    ShardedTensor* sharded = shards ? shards->find(live.name) : nullptr;
    if (shards && !sharded && session.rank() != 0) continue;
    const c10::IntArrayRef model_shape = sharded ? c10::IntArrayRef(sharded->shape) : live.tensor.sizes();
    if (c10::IntArrayRef(entry->shape) != model_shape || scalar_type_from_name(entry->dtype) != live.tensor.scalar_type()) {
      throw InputError(fmt::format("--resume '{}': '{}' is {} {} in '{}' but {} {} in the model", dir, live.name,
                                   entry->dtype, fmt::join(entry->shape, "x"), path,
                                   dtype_name(live.tensor.scalar_type()), fmt::join(model_shape, "x")));
    }
    if (sharded) {
      // A weight stored another way (a view into a larger storage) is read whole and cut.
      std::optional<uint64_t> bytes = slices->read(*sharded, *entry, device);
      if (!bytes) {
        shards->keep_slice(*sharded, saved.read(*entry), device);
        bytes = static_cast<uint64_t>(entry->numel) * live.tensor.element_size();
      }
      loaded.bytes_read += *bytes;
      session.tracker().mark_allocated(live.tensor, device.str());
    } else {
      if (live.tensor.is_meta()) {
        swap_in_place(live.tensor, torch::empty(live.tensor.sizes(), live.tensor.options().device(device)));
        session.tracker().mark_allocated(live.tensor, live.tensor.device().str());
      }
      live.tensor.copy_(saved.read(*entry));
      loaded.bytes_read += static_cast<uint64_t>(live.tensor.nbytes());
    }
    session.tracker().mark_written(live.tensor, LedgerEvent::Loaded);
    session.ledger().note(live.name, LedgerEvent::Loaded, fmt::format("from {}", path));
    loaded.loaded.push_back(live.name);
  }
  if (slices && slice_collective) slices->verify(*slice_collective);
  for (const auto& entry : saved.file().tensors()) {
    if (!session.walker().find(entry.name)) {
      throw InputError(fmt::format("--resume '{}': '{}' holds '{}', which this model does not have", dir, path, entry.name));
    }
  }
  return loaded;
}

void RunCheckpoint::load_optimizer(const std::string& dir, const RunState& state, torch::optim::AdamW& optimizer,
                                   const NamedTensors& trainable) {
  const std::string path = (fs::path(dir) / state.optimizer).string();
  auto saved = SavedStateDict(path).read_all();
  if (state.step == 0) return;
  for (const auto& [name, parameter] : trainable) {
    auto get = [&](const std::string& key) {
      auto it = saved.find(key);
      if (it == saved.end()) throw InputError(fmt::format("--resume '{}': '{}' lacks '{}'", dir, path, key));
      return it->second;
    };
    torch::Tensor exp_avg = get("exp_avg." + name), exp_avg_sq = get("exp_avg_sq." + name), step = get("step." + name);
    if (exp_avg.sizes() != parameter.sizes() || exp_avg_sq.sizes() != parameter.sizes() || step.numel() != 1) {
      throw InputError(fmt::format("--resume '{}': the optimizer state of '{}' in '{}' does not fit the model", dir, name, path));
    }
    auto adam = std::make_unique<torch::optim::AdamWParamState>();
    adam->step(step.to(torch::kInt64).item<int64_t>());
    adam->exp_avg(exp_avg.to(parameter.device(), parameter.scalar_type()).clone());
    adam->exp_avg_sq(exp_avg_sq.to(parameter.device(), parameter.scalar_type()).clone());
    optimizer.state()[compat::optimizer_state_key(parameter)] = std::move(adam);
  }
}

}  // namespace metaguard
