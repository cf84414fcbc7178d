#pragma once
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/adamw.h>
#include <torch/types.h>

#include "load/checkpoint_loader.hpp"
#include "program/rank_session.hpp"
#include "train/run_state.hpp"

namespace metaguard {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A training run's checkpoints in its `--out DIR`:
//
//   DIR/run.json                           which step is the latest, and what run it belongs to
//   DIR/checkpoints/step-000020/lora.pt    the adapters (model.pt with --save-full: every
//                                          parameter and persistent buffer; tied ones once)
//   DIR/checkpoints/step-000020/optimizer.pt  AdamW's moments and step count per parameter
//
// Both .pt files are torch.save-compatible state dicts written by the atomic checkpoint
// writer; run.json is replaced atomically after both are complete, and only then are older
// step folders removed. A crash at any moment leaves a run.json that names complete files.
class RunCheckpoint {
 public:
  // Rank 0 only. `weights`: what the weights file holds; `trainable`: the optimizer's
  // parameters by name, in its order.
  static void save(const std::string& dir, RunState state, const NamedTensors& weights,
                   const torch::optim::AdamW& optimizer, const NamedTensors& trainable);

  // DIR/run.json; InputError naming `flag` and the directory when it is absent or malformed.
  static RunState read(const std::string& dir, const std::string& flag = "--resume");

  // Copies the saved weights into the session's live tensors in place (same TensorImpl, so
  // aliases and optimizers stay valid), marks them written by "load" and notes "loaded" in
  // the ledger; a tensor still on meta is materialized on `device`. Returns the names loaded
  // and the tensor bytes read (a tied weight's once per name).
  // InputError for a missing, corrupt or mismatching file. Under --strategy shard every rank
  // calls it, reads only its slices of the frozen weights (rank 0 also the rest) and, given
  // `slice_collective`, checks the records' CRC-32s with the other ranks (a collective).
  static LoadResult load_weights(const std::string& dir, const RunState& state, RankSession& session,
                                               torch::Device device, SliceGatherer* slice_collective = nullptr);

  // Restores AdamW's state for the named parameters. InputError as above.
  static void load_optimizer(const std::string& dir, const RunState& state, torch::optim::AdamW& optimizer,
                             const NamedTensors& trainable);
};

}  // namespace metaguard
