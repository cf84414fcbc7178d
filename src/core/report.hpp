#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/finding.hpp"
#include "core/tensor_record.hpp"

namespace metaguard {

struct Summary {
  int64_t tensors = 0;
  int64_t meta = 0;
  int64_t errors = 0;    // error findings not repaired
  int64_t warnings = 0;  // warning findings not repaired
  int64_t repaired = 0;
  int64_t allowed = 0;
  std::map<std::string, int64_t> bytes_by_device;

  bool operator==(const Summary& other) const;
};

struct ValidationLoss {
  int64_t step = 0;
  double loss = 0;
};

struct StopReason {
  std::string phase;
  std::optional<int> rank;
  std::string reason;
};

// The `training` block of a train report (CONTRACT.md).
struct TrainingInfo {
  int world_size = 1;
  int64_t steps = 0;
  int64_t global_batch = 0;
  int64_t seq_len = 0;
  std::string device;   // "cpu" | "cuda" (empty in reports written before 0.2)
  std::string backend;  // collectives: "gloo" | "nccl" (empty likewise)
  std::string strategy;  // "replicate" | "shard" (empty in reports written before 0.3)
  double gather_seconds = 0;  // shard: rank 0's seconds in all-gathers of weights (forward and backward)
  bool activation_checkpointing = false;  // shard: each block recomputed in backward
  // Hex hash of the frozen weights, the same under replicate and shard (empty: not computed).
  std::string frozen_weights_hash;
  std::vector<double> losses;
  std::vector<ValidationLoss> val_losses;
  std::optional<double> final_loss;
  double tokens_per_s = 0;
  std::optional<StopReason> stopped;
};

// A complete report: what every renderer is fed.
// One rank's memory on one device: what training would hold there (preflight).
struct MemoryRow {
  int rank = 0;
  std::string device;
  int64_t weight_bytes = 0;     // parameters and buffers that hold data (a shared storage once)
  int64_t gradient_bytes = 0;   // trainable parameters
  int64_t optimizer_bytes = 0;  // AdamW: two moments per trainable parameter
  // --strategy shard: the largest block's frozen weights, all-gathered for its forward and
  // backward (held beside the shards, freed after the block).
  int64_t gathered_bytes = 0;
  // Activations kept for backward at preflight's --micro-batch and --seq-len (0: not asked).
  int64_t activation_bytes = 0;
  int64_t total_bytes() const {
    return weight_bytes + gradient_bytes + optimizer_bytes + gathered_bytes + activation_bytes;
  }
};

// The optional memory columns some row has (a sharded run's gathered weights, activations):
// renderers show a column only where a row fills it.
struct MemoryColumns {
  bool gathered = false;
  bool activations = false;
};
MemoryColumns memory_columns(const std::vector<MemoryRow>& rows);

// One rank's shards under --strategy shard (preflight): how much of the frozen weights it
// holds, and the tensors whose slice is empty on it.
struct ShardRow {
  int rank = 0;
  int64_t tensors = 0;   // sharded tensors (each storage once)
  int64_t elements = 0;  // elements of its slices (padding excluded)
  int64_t bytes = 0;     // what its slices allocate, padding included
  std::vector<std::string> empty;  // tensors whose slice is empty on this rank
};

// How many elements and tensors train and how many stay frozen (preflight, rank 0's model).
struct ParameterCounts {
  int64_t trainable_numel = 0;
  int64_t frozen_numel = 0;
  int64_t trainable_tensors = 0;
  int64_t frozen_tensors = 0;
};

struct Report {
  static constexpr const char* kSchema = "metaguard.report/1";
  std::string command;  // scan | preflight | train | regress
  std::string source;
  std::vector<TensorRecord> tensors;
  std::vector<Finding> findings;
  std::optional<TrainingInfo> training;
  std::vector<MemoryRow> memory;               // "memory" (preflight): one row per rank and device
  std::optional<ParameterCounts> parameters;  // "parameters" (preflight)
  std::vector<ShardRow> shards;               // "shards" (preflight --strategy shard): one row per rank
  // Additional command-specific sections (memory per rank, counts, ...), rendered as is.
  nlohmann::json extra = nlohmann::json::object();

  Summary summary() const;
  // 0: no error remains; 1: an error remains (CONTRACT.md exit codes).
  int exit_code() const { return summary().errors > 0 ? 1 : 0; }
};

}  // namespace metaguard
