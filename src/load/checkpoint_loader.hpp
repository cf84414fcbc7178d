#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/finding.hpp"
#include "ledger/ledger.hpp"
#include "load/checkpoint_key_map.hpp"
#include "walk/module_walker.hpp"
#include "walk/tensor_state_tracker.hpp"

namespace metaguard {

struct LoadOptions {
  torch::Device device = torch::kCPU;  // where meta tensors are materialized
  KeyMapping keys = KeyMapping::Identity;
  // Which of the model's parameters and persistent buffers to load; default: all. Tensors
  // not selected are neither loaded nor reported missing, and their keys are not unexpected.
  std::function<bool(const LiveTensor&)> select;
  // Checkpoint keys to treat as absent from the file (the partial-checkpoint fault).
  CheckpointKeyMap::KeyFilter hide_keys;
  int threads = 1;  // storages are read in parallel (stored records only)
  std::optional<int> rank;      // carried by the findings
  std::string phase = "load";   // carried by the findings
};

struct LoadResult {
  std::vector<std::string> loaded;   // model names that received values, aliases included
  std::vector<Finding> findings;     // missing-key, unexpected-key, shape-mismatch, dtype-mismatch,
                                     // meta-checkpoint-entry; sorted
  uint64_t bytes_read = 0;           // tensor bytes read from the file (0 in a dry run)
};

// Loads a checkpoint into a live model, in place, as a model built on meta needs it:
//   - each parameter and persistent buffer (never a non-persistent one) is looked up under
//     the key mapping; a meta tensor is materialized in place (same TensorImpl: module
//     members, aliases and optimizers keep seeing it) with the checkpoint's layout, and its
//     storage's bytes are read from the file straight into that final memory, once per
//     storage (tied names are one tensor and are loaded once; entries that share a storage
//     share it after loading too). A tensor that already has storage is written in place.
//   - a stored record's bytes are read with pread at their absolute offset and CRC-checked
//     as they are read; a record that fails is an InputError naming the file: the meta
//     tensors it would have filled stay meta (bytes are swapped in only once verified;
//     a tensor that already had storage may hold part of the bytes).
//   - findings: `missing-key` (error; the tensor stays as it was: meta after a meta build),
//     `unexpected-key` (warning; the checkpoint key), `shape-mismatch` (error; the tensor is
//     left as it is), `dtype-mismatch` (warning; converted to the model's dtype while
//     loading), `meta-checkpoint-entry` (error; the file holds no data for that key).
//     Under KeyMapping::LoraBase, adapters (lora_A/lora_B) are not expected from a
//     checkpoint that holds none, and base keys that mapped are not unexpected.
//   - the tracker learns that each loaded tensor was written by "load" (a file read into
//     data_ptr() does not bump torch's write counter); the ledger gets a "loaded" note per
//     name (and "not-loaded" for the missing), attached to the caller's next record().
// Dry-run tracker (preflight): nothing is allocated and no tensor byte is read; the
// tracker records where each tensor would be and a content key derived from the storage
// record's CRC-32, position and the view, so replicas of loaded values compare equal.
// The findings are the same as a real load's.
LoadResult load_checkpoint(ModuleWalker& walker, TensorStateTracker& tracker, const CheckpointFile& file,
                           const LoadOptions& options = {}, Ledger* ledger = nullptr);

}  // namespace metaguard
