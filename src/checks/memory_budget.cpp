#include "checks/memory_budget.hpp"

#include <cctype>
#include <cmath>
#include <map>
#include <unordered_set>

#include <fmt/format.h>

namespace metaguard {
namespace {

struct PrecisionName {
  Precision precision;
  const char* name;
};
constexpr PrecisionName kPrecisions[] = {{Precision::True32, "32-true"},
                                         {Precision::True16, "16-true"},
                                         {Precision::Bf16True, "bf16-true"},
                                         {Precision::Mixed16, "16-mixed"},
                                         {Precision::Bf16Mixed, "bf16-mixed"}};

bool is_floating(const std::string& dtype) {
  return dtype == "float32" || dtype == "float16" || dtype == "bfloat16" || dtype == "float64";
}

// "128.6 GiB", "31.2 MiB", "512 B".
std::string size_text(int64_t bytes) {
  const double value = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.1f} GiB", value / (1024.0 * 1024 * 1024));
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.1f} MiB", value / (1024.0 * 1024));
  if (bytes >= (int64_t{1} << 10)) return fmt::format("{:.1f} KiB", value / 1024.0);
  return fmt::format("{} B", bytes);
}

// Bytes one element of `t` takes under `precision` (integer tensors keep their own type).
int64_t element_bytes(const TensorRecord& t, Precision precision) {
  if (is_floating(t.dtype)) return float_element_bytes(precision);
  return t.numel > 0 ? t.nbytes / t.numel : 0;
}

// A tensor held whole: its bytes, and when it trains its gradient and AdamW's two moments.
void add_whole(MemoryRow& row, const TensorRecord& t, Precision precision) {
  const int64_t bytes = is_floating(t.dtype) ? t.numel * float_element_bytes(precision) : t.nbytes;
  row.weight_bytes += bytes;
  if (t.kind == TensorKind::Parameter && t.requires_grad.value_or(false)) {
    row.gradient_bytes += bytes;
    row.optimizer_bytes += 2 * bytes;
  }
}

bool sharded(const TensorRecord& t) { return t.kind == TensorKind::Parameter && !t.requires_grad.value_or(false); }

}  // namespace

std::optional<Precision> parse_precision(std::string_view name) {
  for (const auto& entry : kPrecisions) {
    if (name == entry.name) return entry.precision;
  }
  return std::nullopt;
}

const char* to_string(Precision precision) {
  for (const auto& entry : kPrecisions) {
    if (entry.precision == precision) return entry.name;
  }
  return "?";
}

std::vector<std::string> precision_names() {
  std::vector<std::string> out;
  for (const auto& entry : kPrecisions) out.emplace_back(entry.name);
  return out;
}

int64_t float_element_bytes(Precision precision) {
  return precision == Precision::True16 || precision == Precision::Bf16True ? 2 : 4;
}

std::vector<MemoryRow> memory_rows(int rank, const Inventory& inventory, Precision precision, const std::string& device) {
  std::map<std::string, MemoryRow> by_device;
  std::unordered_set<uint64_t> storages;
  for (const auto& t : inventory.tensors()) {
    if (t.is_meta()) continue;  // meta tensors hold no memory
    const std::string where = device.empty() ? t.device : device;
    MemoryRow& row = by_device[where];
    row.rank = rank;
    row.device = where;
    if (t.storage_key != 0 && !storages.insert(t.storage_key).second) continue;  // tied: counted once
    add_whole(row, t, precision);
  }
  std::vector<MemoryRow> rows;
  for (auto& [name, row] : by_device) rows.push_back(row);
  return rows;
}

MemoryRow sharded_memory_row(int rank, int world_size, const Inventory& inventory, Precision precision,
                             const std::string& device, ShardRow& shard) {
  MemoryRow row;
  row.rank = rank;
  row.device = device.empty() ? "cpu" : device;
  shard = ShardRow{};
  shard.rank = rank;
  std::unordered_set<uint64_t> storages;
  std::map<std::string, int64_t> gathered;  // gather unit -> bytes of its full, padded buffers
  for (const auto& t : inventory.tensors()) {
    if (t.is_meta()) continue;  // offloaded on purpose: holds no memory
    if (t.storage_key != 0 && !storages.insert(t.storage_key).second) continue;  // tied: counted once
    if (!sharded(t)) {
      add_whole(row, t, precision);  // trainable parameters and buffers are replicated
      continue;
    }
    const int64_t element = element_bytes(t, precision);
    const ShardLayout layout(t.numel, world_size);
    const ShardSlice slice = layout.slice(rank);
    row.weight_bytes += layout.per_rank() * element;
    gathered[gather_unit(t.name)] += layout.padded_numel() * element;
    ++shard.tensors;
    shard.elements += slice.size();
    shard.bytes += layout.per_rank() * element;
    if (slice.empty()) shard.empty.push_back(t.name);
  }
  for (const auto& [unit, bytes] : gathered) row.gathered_bytes = std::max(row.gathered_bytes, bytes);
  return row;
}

std::vector<Finding> empty_shard_findings(const std::vector<ShardRow>& shards, int world_size, const std::string& phase) {
  std::vector<Finding> findings;
  const FindingPlace place{std::nullopt, phase};
  for (const auto& row : shards) {
    for (const auto& name : row.empty) {
      Finding f = place.make(
          "empty-shard", Severity::Warning, name,
          fmt::format("The shard of {} on this rank is empty: the slices of lower ranks already cover all of its "
                      "elements, so the rank holds only padding and takes part in every gather.",
                      name),
          fmt::format("nothing to do for metaguard's sharding; under PyTorch's FSDP2 an empty local shard left on meta "
                      "fails with 'Cannot copy out of meta tensor' (pytorch#164554): materialize it too, or shard "
                      "over fewer than {} ranks",
                      world_size));
      f.rank = row.rank;
      findings.push_back(std::move(f));
    }
  }
  return findings;
}

std::optional<int64_t> parse_byte_size(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(std::string(text.substr(0, i)), &used);
    if (used != i) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit;
  for (char c : text.substr(i)) {
    if (c != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  static const std::map<std::string, double> kUnits = {
      {"", 1},          {"b", 1},          {"kb", 1e3},       {"mb", 1e6},       {"gb", 1e9},       {"tb", 1e12},
      {"kib", 1024.0},  {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return std::nullopt;
  const double bytes = value * it->second;
  if (!std::isfinite(bytes) || bytes < 1 || bytes > 9e18) return std::nullopt;
  return static_cast<int64_t>(bytes);
}

std::vector<Finding> memory_budget_findings(const std::vector<MemoryRow>& rows, int64_t budget, const std::string& phase) {
  std::vector<Finding> findings;
  for (const auto& row : rows) {
    if (row.total_bytes() <= budget) continue;
    Finding f;
    f.code = "device-memory-exceeded";
    f.severity = Severity::Error;
    f.rank = row.rank;
    f.phase = phase;
    std::string parts = fmt::format("{} weights, {} gradients, {} optimizer state", size_text(row.weight_bytes),
                                    size_text(row.gradient_bytes), size_text(row.optimizer_bytes));
    if (row.gathered_bytes) parts += fmt::format(", {} gathered for the largest block", size_text(row.gathered_bytes));
    if (row.activation_bytes) parts += fmt::format(", {} activations", size_text(row.activation_bytes));
    f.message = fmt::format("Training would hold {} on {} on rank {} ({}){}: {} more than the {} that --device-memory "
                            "allows.",
                            size_text(row.total_bytes()), row.device, row.rank, parts,
                            row.activation_bytes ? "" : " before any activation", size_text(row.total_bytes() - budget),
                            size_text(budget));
    f.hint = row.gathered_bytes
                 ? "use more ranks, a 16-bit --precision, a smaller --micro-batch or --seq-len, or fewer trainable "
                   "parameters"
                 : "shard the frozen weights across ranks (--strategy shard), use more ranks, a 16-bit --precision, or "
                   "fewer trainable parameters";
    findings.push_back(std::move(f));
  }
  return findings;
}

}  // namespace metaguard
