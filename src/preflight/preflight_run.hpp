#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/report.hpp"

namespace metaguard {

struct PreflightOptions {
  std::string model = "micro";                                     // name or config path
  std::string lora = "r=8,alpha=16,dropout=0,targets=query+value";  // CONTRACT.md's --lora SPEC
  int world_size = 2;
  std::optional<std::string> init;  // "meta" | "direct"; default: meta for several ranks or meta faults
  std::vector<std::string> inject;  // fault names
  std::vector<std::string> offload;  // globs of tensors kept on meta on purpose
  std::optional<std::string> checkpoint;  // rank 0 loads it (metadata only: a dry run reads no tensor bytes)
  bool repair = false;
  std::string precision = "bf16-true";  // LitGPT's --precision names (checks/memory_budget.hpp)
  std::string device = "cpu";           // cpu | cuda: the device memory figures are for
  std::optional<std::string> device_memory;  // "80GiB": an error finding for a rank that needs more
  std::string strategy = "replicate";  // replicate | shard: memory per rank of a sharded run (frozen weights split)
  std::optional<int64_t> micro_batch;  // with seq_len: activations in the memory rows
  std::optional<int64_t> seq_len;
  uint64_t seed = 1337;
  int threads = 1;
};

// Builds the model for every rank exactly as the trainer will, in one process and on a
// dry-run tracker (shapes only: llama-2-70b for 8 ranks fits in memory), walks every
// rank's inventory at every phase, and reports findings with provenance, memory per rank
// and device, and trainable/frozen counts. Throws InputError for bad options.
Report run_preflight(const PreflightOptions& options);

}  // namespace metaguard
