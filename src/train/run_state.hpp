#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/report.hpp"

namespace metaguard {

// What `DIR/run.json` says about the last checkpoint of a run: enough to check that a
// `--resume` continues the same run (model, LoRA, data, seed, batch shape) and to continue
// it exactly (the step; the loss history so far). The random state of step s is a pure
// function of (seed, s, rank), so seed and step are the whole RNG state.
struct RunState {
  static constexpr const char* kSchema = "metaguard.run/1";

  std::string model;                    // the config's name
  nlohmann::json config;                // every field (gpt_config_to_json)
  std::string lora;                     // canonical spec, or "none"
  uint64_t seed = 0;
  int64_t global_batch = 0;
  int64_t seq_len = 0;
  std::string data;                     // path as given
  uint64_t data_fingerprint = 0;
  std::string base_checkpoint;          // --checkpoint of the run ("" for none)
  int64_t step = 0;                     // optimizer steps done
  int world_size = 1;                   // of the run that saved (informational)
  bool full = false;                    // weights file holds the whole model, not only adapters
  std::string weights;                  // relative to the run directory
  std::string optimizer;                // relative to the run directory
  std::vector<double> losses;
  std::vector<ValidationLoss> val_losses;

  nlohmann::json to_json() const;
  // Throws InputError naming `origin` and the field.
  static RunState from_json(const nlohmann::json& document, const std::string& origin);
};

}  // namespace metaguard
