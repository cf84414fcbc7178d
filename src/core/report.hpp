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
  std::vector<double> losses;
  std::vector<ValidationLoss> val_losses;
  std::optional<double> final_loss;
  double tokens_per_s = 0;
  std::optional<StopReason> stopped;
};

// A complete report: what every renderer is fed.
struct Report {
  static constexpr const char* kSchema = "metaguard.report/1";
  std::string command;  // scan | preflight | train | regress
  std::string source;
  std::vector<TensorRecord> tensors;
  std::vector<Finding> findings;
  std::optional<TrainingInfo> training;
  // Additional command-specific sections (memory per rank, counts, ...), rendered as is.
  nlohmann::json extra = nlohmann::json::object();

  Summary summary() const;
  // 0: no error remains; 1: an error remains (CONTRACT.md exit codes).
  int exit_code() const { return summary().errors > 0 ? 1 : 0; }
};

}  // namespace metaguard
