#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/report.hpp"
#include "core/shard_layout.hpp"
#include "core/finding.hpp"
#include "core/inventory.hpp"

namespace metaguard {

// How a run keeps its floating-point tensors, by LitGPT's --precision names: "-true" holds
// weights, gradients and AdamW state in that type; "-mixed" holds them in float32 (16-bit
// is only for the computation).
enum class Precision { True32, True16, Bf16True, Mixed16, Bf16Mixed };

std::optional<Precision> parse_precision(std::string_view name);  // "32-true", "bf16-mixed", ...
const char* to_string(Precision precision);
std::vector<std::string> precision_names();
// Bytes a floating-point element takes under `precision` (weights, gradients and each
// AdamW moment alike).
int64_t float_element_bytes(Precision precision);

// The rows of one rank's inventory, one per device its tensors are on; `device`, when not
// empty, names the device the run would use instead ("cuda" for preflight --device cuda).
std::vector<MemoryRow> memory_rows(int rank, const Inventory& inventory, Precision precision, const std::string& device = "");

// --strategy shard: rank `rank`'s memory when every frozen parameter is split across
// `world_size` ranks (core/shard_layout.hpp) and everything else is replicated: its slices,
// the replicated tensors, the largest block's gathered weights, and gradients and AdamW state
// of the trainable ones; `shard` receives the rank's shard row. One row (the run's device).
MemoryRow sharded_memory_row(int rank, int world_size, const Inventory& inventory, Precision precision,
                             const std::string& device, ShardRow& shard);

// A warning for each tensor whose slice is empty on a rank (code "empty-shard").
std::vector<Finding> empty_shard_findings(const std::vector<ShardRow>& shards, int world_size, const std::string& phase);

// "80GiB", "79.5 GB", "512MiB", "1000000" (bytes): nullopt when not a size.
std::optional<int64_t> parse_byte_size(std::string_view text);

// An error finding for every row over `budget` bytes, naming the rank, its need and the
// shortfall (code "device-memory-exceeded").
std::vector<Finding> memory_budget_findings(const std::vector<MemoryRow>& rows, int64_t budget, const std::string& phase);

}  // namespace metaguard
