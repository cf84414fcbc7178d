#include "explain/report_diff.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/hashing.hpp"
#include "explain/story.hpp"
#include "report/report_json.hpp"
#include "report/text_renderer.hpp"

namespace metaguard {
namespace {

constexpr size_t kSharersListed = 4;  // larger groups are named by size, first members and a hash

constexpr int kNoRank = -1;  // key for a tensor or finding that names no rank

// A tensor's identity within one report: its rank (kNoRank when not compared or not named)
// and its name.
using TensorKey = std::pair<int, std::string>;

TensorKey key_of(const TensorRecord& t, bool by_rank) { return {by_rank ? t.rank.value_or(kNoRank) : kNoRank, t.name}; }

bool key_less(const TensorKey& x, const TensorKey& y) {
  if (x.first != y.first) return x.first < y.first;
  return natural_less(x.second, y.second);
}

std::string label_of(const TensorKey& key) {
  return tensor_label(key.second, key.first == kNoRank ? std::nullopt : std::optional<int>(key.first));
}

// For each tensor (by rank and name), the other tensors that share its storage ("no storage"
// without an id). Storage ids are per process, so one rank's "s0" is not another's: storages
// are grouped per rank. Each group is sorted once; a large group (a flat parameter with
// thousands of views) is described by its size, first members and a hash of all members, so
// two reports still compare exactly without listing every name for every member.
std::map<TensorKey, std::string> storage_sharing(const Report& report) {
  std::map<std::pair<int, std::string>, std::vector<std::string>> by_storage;
  for (const auto& t : report.tensors) {
    if (t.storage) by_storage[{t.rank.value_or(kNoRank), *t.storage}].push_back(t.name);
  }
  std::map<TensorKey, std::string> out;
  for (auto& [storage, names] : by_storage) {
    int rank = storage.first;
    std::sort(names.begin(), names.end(), natural_less);
    names.erase(std::unique(names.begin(), names.end()), names.end());
    if (names.size() == 1) {
      out[{rank, names.front()}] = "own storage";
      continue;
    }
    if (names.size() - 1 <= kSharersListed) {
      for (const auto& name : names) {
        std::vector<std::string> others;
        for (const auto& other : names) {
          if (other != name) others.push_back(other);
        }
        out[{rank, name}] = fmt::format("shared with {}", fmt::join(others, ", "));
      }
      continue;
    }
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const auto& name : names) hash = fnv1a64(name + '\n', hash);
    std::string group = fmt::format("one of {} tensors sharing a storage ({}, {}, ...; members {:016x})", names.size(),
                                    names[0], names[1], hash);
    for (const auto& name : names) out[{rank, name}] = group;
  }
  for (const auto& t : report.tensors) {
    if (!t.storage) out[{t.rank.value_or(kNoRank), t.name}] = "no storage";
  }
  return out;
}

std::string provenance_words(const TensorRecord& t) {
  if (t.provenance.empty()) return "(none)";
  std::vector<std::string> steps;
  for (const auto& e : t.provenance) steps.push_back(fmt::format("{}: {} ({})", e.phase, e.event, e.device));
  return fmt::format("{}", fmt::join(steps, " -> "));
}

std::string yes_no(bool value) { return value ? "yes" : "no"; }

std::string requires_grad_words(const std::optional<bool>& value) {
  if (!value) return "unknown";
  return *value ? "true" : "false";
}

std::vector<FieldChange> compare(const TensorRecord& a, const TensorRecord& b, const std::string& sharing_a,
                                 const std::string& sharing_b) {
  std::vector<FieldChange> changes;
  auto field = [&](const char* name, const std::string& x, const std::string& y) {
    if (x != y) changes.push_back({name, x, y});
  };
  field("kind", std::string(to_string(a.kind)), std::string(to_string(b.kind)));
  field("dtype", a.dtype, b.dtype);
  field("shape", shape_text(a.shape), shape_text(b.shape));
  field("device", a.device, b.device);
  field("storage", sharing_a, sharing_b);
  field("storage_offset", std::to_string(a.storage_offset), std::to_string(b.storage_offset));
  field("contiguous", yes_no(a.contiguous), yes_no(b.contiguous));
  field("uninitialized", yes_no(a.uninitialized), yes_no(b.uninitialized));
  field("requires_grad", requires_grad_words(a.requires_grad), requires_grad_words(b.requires_grad));
  field("derived", yes_no(a.derived), yes_no(b.derived));
  if (a.content_hash && b.content_hash) {
    field("content_hash", fmt::format("{:016x}", *a.content_hash), fmt::format("{:016x}", *b.content_hash));
  }
  field("provenance", provenance_words(a), provenance_words(b));
  return changes;
}

using FindingKey = std::tuple<std::string, std::string, int, std::string, int, bool, bool>;

FindingKey finding_key(const Finding& f, bool by_rank) {
  return {f.code,       f.tensor.value_or(""), by_rank ? f.rank.value_or(kNoRank) : kNoRank, f.phase.value_or(""),
          static_cast<int>(f.severity), f.repaired, f.allowed};
}

std::vector<Finding> findings_missing_from(const Report& from, const Report& other, bool by_rank) {
  std::set<FindingKey> keys;
  for (const auto& f : other.findings) keys.insert(finding_key(f, by_rank));
  std::set<FindingKey> listed;
  std::vector<Finding> out;
  for (const auto& f : from.findings) {
    FindingKey key = finding_key(f, by_rank);
    if (keys.count(key) || !listed.insert(key).second) continue;
    out.push_back(f);
  }
  sort_findings(out);
  return out;
}

std::string finding_words(const Finding& f, bool by_rank) {
  std::string status = f.repaired ? "repaired" : std::string(to_string(f.severity));
  if (f.allowed) status = "allowed";
  std::string out = fmt::format("{} [{}] {}", status, f.code,
                                tensor_label(f.tensor.value_or("(model)"), by_rank ? f.rank : std::nullopt));
  if (f.phase) out += " at " + *f.phase;
  return out + ": " + f.message;
}

}  // namespace

bool ReportDiff::identical() const {
  return only_in_a.empty() && only_in_b.empty() && changed.empty() && findings_only_in_a.empty() &&
         findings_only_in_b.empty();
}

std::string tensor_label(const std::string& name, std::optional<int> rank) {
  return rank ? fmt::format("{} (rank {})", name, *rank) : name;
}

bool is_multi_rank(const Report& report) {
  std::set<int> ranks;
  for (const auto& t : report.tensors) {
    if (t.rank) ranks.insert(*t.rank);
  }
  for (const auto& f : report.findings) {
    if (f.rank) ranks.insert(*f.rank);
  }
  return ranks.size() > 1;
}

ReportDiff diff_reports(const Report& a, const Report& b, std::string label_a, std::string label_b) {
  ReportDiff diff;
  diff.label_a = std::move(label_a);
  diff.label_b = std::move(label_b);
  // Rank 0's report against rank 1's compares names; two multi-rank reports compare rank by rank.
  diff.by_rank = is_multi_rank(a) && is_multi_rank(b);
  std::map<TensorKey, const TensorRecord*> in_b;
  for (const auto& t : b.tensors) in_b.emplace(key_of(t, diff.by_rank), &t);
  std::set<TensorKey> in_a;
  auto sharing_a = storage_sharing(a);
  auto sharing_b = storage_sharing(b);
  std::vector<TensorKey> only_a;
  std::vector<TensorKey> only_b;
  for (const auto& t : a.tensors) {
    TensorKey key = key_of(t, diff.by_rank);
    if (!in_a.insert(key).second) continue;  // a tensor listed twice is compared once
    auto it = in_b.find(key);
    if (it == in_b.end()) {
      only_a.push_back(key);
      continue;
    }
    const TensorRecord& other = *it->second;
    auto changes = compare(t, other, sharing_a[{t.rank.value_or(kNoRank), t.name}],
                           sharing_b[{other.rank.value_or(kNoRank), other.name}]);
    if (!changes.empty()) {
      std::optional<int> rank = key.first == kNoRank ? std::nullopt : std::optional<int>(key.first);
      diff.changed.push_back({t.name, rank, std::move(changes)});
    }
  }
  for (const auto& [key, record] : in_b) {
    if (!in_a.count(key)) only_b.push_back(key);
  }
  std::sort(only_a.begin(), only_a.end(), key_less);
  std::sort(only_b.begin(), only_b.end(), key_less);
  for (const auto& key : only_a) diff.only_in_a.push_back(label_of(key));
  for (const auto& key : only_b) diff.only_in_b.push_back(label_of(key));
  diff.findings_only_in_a = findings_missing_from(a, b, diff.by_rank);
  diff.findings_only_in_b = findings_missing_from(b, a, diff.by_rank);
  return diff;
}

std::vector<std::string> diff_formats() { return {"text", "json"}; }

void require_diff_format(std::string_view format) {
  if (format == "text" || format == "json") return;
  throw InputError(fmt::format("--format: unknown format '{}' for diff (expected one of: {})", format,
                               fmt::join(diff_formats(), ", ")));
}

std::string render_diff(const ReportDiff& diff, std::string_view format) {
  require_diff_format(format);
  if (format == "text") return diff_to_text(diff);
  return diff_to_json(diff).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json diff_to_json(const ReportDiff& diff) {
  using nlohmann::json;
  json changed = json::array();
  for (const auto& change : diff.changed) {
    json fields = json::array();
    for (const auto& f : change.changes) fields.push_back({{"field", f.field}, {"a", f.a}, {"b", f.b}});
    json entry = {{"tensor", change.tensor}, {"fields", std::move(fields)}};
    if (change.rank) entry["rank"] = *change.rank;
    changed.push_back(std::move(entry));
  }
  json only_a = json::array();
  for (const auto& f : diff.findings_only_in_a) only_a.push_back(finding_to_json(f));
  json only_b = json::array();
  for (const auto& f : diff.findings_only_in_b) only_b.push_back(finding_to_json(f));
  return {{"schema", "metaguard.diff/1"},
          {"a", diff.label_a},
          {"b", diff.label_b},
          {"identical", diff.identical()},
          {"only_in_a", diff.only_in_a},
          {"only_in_b", diff.only_in_b},
          {"changed", std::move(changed)},
          {"findings_only_in_a", std::move(only_a)},
          {"findings_only_in_b", std::move(only_b)}};
}

std::string diff_to_text(const ReportDiff& diff) {
  std::string out = fmt::format("metaguard diff\n  A: {}\n  B: {}\n", diff.label_a, diff.label_b);
  auto names = [&](const char* title, const std::vector<std::string>& list) {
    if (list.empty()) return;
    out += fmt::format("\n{} ({}):\n", title, list.size());
    for (const auto& name : list) out += "  " + name + "\n";
  };
  names("tensors only in A", diff.only_in_a);
  names("tensors only in B", diff.only_in_b);
  if (!diff.changed.empty()) {
    out += fmt::format("\ntensors that differ ({}):\n", diff.changed.size());
    for (const auto& change : diff.changed) {
      out += "  " + tensor_label(change.tensor, change.rank) + "\n";
      for (const auto& f : change.changes) out += fmt::format("    {}\n      A: {}\n      B: {}\n", f.field, f.a, f.b);
    }
  }
  auto findings = [&](const char* title, const std::vector<Finding>& list) {
    if (list.empty()) return;
    out += fmt::format("\n{} ({}):\n", title, list.size());
    for (const auto& f : list) out += "  " + finding_words(f, diff.by_rank) + "\n";
  };
  findings("findings only in A", diff.findings_only_in_a);
  findings("findings only in B", diff.findings_only_in_b);
  if (diff.identical()) out += "\nno differences\n";
  out += fmt::format(
      "\nDIFF: {} tensors differ, {} only in A, {} only in B; {} findings only in A, {} only in B\n",
      diff.changed.size(), diff.only_in_a.size(), diff.only_in_b.size(), diff.findings_only_in_a.size(),
      diff.findings_only_in_b.size());
  return out;
}

}  // namespace metaguard
