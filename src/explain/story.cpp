#include "explain/story.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "explain/cause_catalog.hpp"
#include "explain/tensor_history.hpp"
#include "ledger/ledger_event.hpp"
#include "report/finding_groups.hpp"

namespace metaguard {
namespace {

constexpr int kNoRank = -1;  // map key for findings that name no rank

// One finding as seen once, whichever reports repeat it.
struct Occurrence {
  const Finding* finding;
  const ReportFile* file;
  std::optional<int> rank;
};

using OccurrenceKey = std::tuple<std::string, std::string, int, std::string, int, bool, bool>;

OccurrenceKey key_of(const Finding& f, std::optional<int> rank) {
  return {f.code, f.tensor.value_or(""), rank.value_or(kNoRank), f.phase.value_or(""),
          static_cast<int>(f.severity), f.repaired, f.allowed};
}

bool is_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string digit_pattern(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string segment = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    out += is_digits(segment) ? "*" : segment;
    if (dot == std::string::npos) break;
    out += '.';
    start = dot + 1;
  }
  return out;
}

// What one report says about one rank (kNoRank: records that name none): where its tensors
// are, and whether a checkpoint was loaded or a broadcast received (both change how a history
// reads). A multi-rank report (preflight) lists the same name once per rank.
struct RankIndex {
  std::map<std::string, const TensorRecord*> tensors;
  bool checkpoint_loaded = false;
  bool broadcast_seen = false;
};

struct ReportIndex {
  const ReportFile* file;
  std::map<int, RankIndex> ranks;  // by the records' own rank field
};

class HistoryFinder {
 public:
  HistoryFinder(const RunReports& run, const std::set<std::string>& missing_keys) : missing_keys_(missing_keys) {
    for (const ReportFile* file : run.all()) {
      ReportIndex index{file, {}};
      for (const auto& t : file->report.tensors) {
        RankIndex& of_rank = index.ranks[t.rank.value_or(kNoRank)];
        of_rank.tensors.emplace(t.name, &t);
        for (const auto& e : t.provenance) {
          of_rank.checkpoint_loaded = of_rank.checkpoint_loaded || e.event == to_string(LedgerEvent::Loaded);
          of_rank.broadcast_seen = of_rank.broadcast_seen || e.event == to_string(LedgerEvent::Received);
        }
      }
      indexes_.push_back(std::move(index));
    }
  }

  // Rank r's own report first; then r's records in the run's report (or records naming no
  // rank); then any report that lists the name, r's record where it has one.
  std::string history(const std::string& tensor, std::optional<int> rank) const {
    const ReportIndex* chosen = nullptr;
    const RankIndex* chosen_rank = nullptr;
    const TensorRecord* record = nullptr;
    auto take = [&](const ReportIndex& index, int key) {
      if (record) return;
      auto of_rank = index.ranks.find(key);
      if (of_rank == index.ranks.end()) return;
      auto it = of_rank->second.tensors.find(tensor);
      if (it == of_rank->second.tensors.end()) return;
      chosen = &index;
      chosen_rank = &of_rank->second;
      record = it->second;
    };
    auto consider = [&](const ReportIndex& index, bool any_rank) {
      if (rank) take(index, *rank);
      take(index, kNoRank);
      if (!any_rank) return;
      for (const auto& entry : index.ranks) take(index, entry.first);
    };
    for (const auto& index : indexes_) {
      if (rank && index.file->rank == rank) consider(index, true);
    }
    for (const auto& index : indexes_) {
      if (!index.file->rank) consider(index, false);
    }
    for (const auto& index : indexes_) consider(index, true);
    if (!record) return "not listed among the report's tensors, so no history is known";
    HistoryContext context;
    context.rank = chosen->file->rank ? chosen->file->rank : record->rank ? record->rank : rank;
    context.checkpoint_loaded = chosen_rank->checkpoint_loaded;
    context.broadcast_seen = chosen_rank->broadcast_seen;
    context.missing_from_checkpoint = missing_keys_.count(tensor) > 0;
    return tensor_history(*record, context);
  }

 private:
  const std::set<std::string>& missing_keys_;
  std::vector<ReportIndex> indexes_;
};

// The distinct ranks the reports' tensors and findings name, ascending.
std::vector<int> ranks_in_records(const std::vector<const ReportFile*>& files) {
  std::set<int> ranks;
  for (const ReportFile* file : files) {
    for (const auto& t : file->report.tensors) {
      if (t.rank) ranks.insert(*t.rank);
    }
    for (const auto& f : file->report.findings) {
      if (f.rank) ranks.insert(*f.rank);
    }
  }
  return {ranks.begin(), ranks.end()};
}

// A preflight report's own "preflight": {"world_size": N}; a value that is not a positive
// integer is ignored (the report's schema does not fix the extra section).
std::optional<int> declared_world_size(const std::vector<const ReportFile*>& files) {
  for (const ReportFile* file : files) {
    if (file->report.training) continue;  // training's world size is read on its own, first
    if (auto size = report_world_size(file->report)) return size;
  }
  return std::nullopt;
}

int order_of(const Problem& p) {
  if (p.repaired) return 3;
  if (p.allowed || p.severity == Severity::Info) return 2;
  return p.severity == Severity::Error ? 0 : 1;
}

template <typename T>
void add_unique(std::vector<T>& values, const T& value) {
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

Problem build_problem(const std::string& code, const std::vector<Occurrence>& occurrences,
                      const HistoryFinder& finder) {
  Problem problem;
  problem.code = code;
  Cause cause = cause_for(code);
  problem.cause = std::string(cause.cause);
  problem.fix = std::string(cause.fix);
  problem.findings = static_cast<int>(occurrences.size());

  bool any_open = false;
  bool all_open_allowed = true;
  Severity worst_open = Severity::Info;
  Severity worst_any = Severity::Info;
  // tensor name ("" for none) -> rank (kNoRank for none) set
  std::map<std::string, std::set<int>> tensor_ranks;
  for (const auto& o : occurrences) {
    const Finding& f = *o.finding;
    worst_any = std::max(worst_any, f.severity);
    if (!f.repaired) {
      any_open = true;
      worst_open = std::max(worst_open, f.severity);
      all_open_allowed = all_open_allowed && f.allowed;
    }
    if (o.rank) add_unique(problem.ranks, *o.rank);
    if (f.phase) add_unique(problem.phases, *f.phase);
    if (!f.hint.empty() && f.hint != problem.fix) add_unique(problem.hints, f.hint);
    if (!f.tensor && !f.message.empty()) add_unique(problem.messages, f.message);
    tensor_ranks[f.tensor.value_or("")].insert(o.rank.value_or(kNoRank));
  }
  problem.repaired = !any_open;
  problem.allowed = any_open && all_open_allowed;
  problem.severity = any_open ? worst_open : worst_any;
  std::sort(problem.ranks.begin(), problem.ranks.end());

  // Group tensors whose names share a pattern and whose histories read the same.
  std::map<std::pair<std::string, std::string>, TensorGroup> groups;
  std::vector<std::pair<std::string, std::string>> order;
  std::vector<std::string> names;
  for (const auto& entry : tensor_ranks) names.push_back(entry.first);
  std::sort(names.begin(), names.end(), natural_less);
  for (const auto& name : names) {
    std::map<std::string, std::vector<int>> by_history;
    std::vector<std::string> history_order;
    for (int rank : tensor_ranks[name]) {
      std::optional<int> r = rank == kNoRank ? std::nullopt : std::optional<int>(rank);
      std::string words = name.empty() ? "" : finder.history(name, r);
      auto [it, inserted] = by_history.try_emplace(words);
      if (inserted) history_order.push_back(words);
      if (r) it->second.push_back(*r);
    }
    std::vector<RankHistory> histories;
    std::string signature;
    for (const auto& words : history_order) {
      histories.push_back({by_history[words], words});
      signature += ranks_text(by_history[words]) + ":" + words + "\n";
    }
    auto key = std::make_pair(name.empty() ? std::string() : digit_pattern(name), signature);
    auto [it, inserted] = groups.try_emplace(key);
    if (inserted) {
      order.push_back(key);
      it->second.histories = std::move(histories);
    }
    if (!name.empty()) it->second.tensors.push_back(name);
  }
  for (const auto& key : order) {
    TensorGroup group = std::move(groups[key]);
    group.pattern = name_pattern(group.tensors);
    problem.groups.push_back(std::move(group));
  }
  return problem;
}

std::string plural(int count, const char* one, const char* many) {
  return fmt::format("{} {}", count, count == 1 ? one : many);
}

std::string headline(const Story& story) {
  if (story.stopped) {
    std::string reason = story.stopped->reason;
    while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.pop_back();
    return fmt::format("The run stopped at {}{}: {}.", story.stopped->phase,
                       story.stopped->rank ? fmt::format(" on rank {}", *story.stopped->rank) : "", reason);
  }
  if (story.errors > 0) {
    std::string remain = story.errors == 1 ? "remains" : "remain";
    if (story.trained) {
      return fmt::format("The run finished, but {} {}.", plural(story.errors, "error finding", "error findings"),
                         remain);
    }
    return fmt::format("{} {}.", plural(story.errors, "error finding", "error findings"), remain);
  }
  if (story.repaired > 0) {
    return fmt::format("No error remains: {} repaired.", plural(story.repaired, "finding was", "findings were"));
  }
  if (story.warnings > 0) return fmt::format("No error remains; {}.", plural(story.warnings, "warning", "warnings"));
  if (story.allowed > 0) return fmt::format("No error remains; {} allowed by --allow.", plural(story.allowed, "finding is", "findings are"));
  return "No findings: nothing was flagged.";
}

}  // namespace

int Problem::tensor_count() const {
  int count = 0;
  for (const auto& group : groups) count += static_cast<int>(group.tensors.size());
  return count;
}

std::string name_pattern(const std::vector<std::string>& names) {
  if (names.size() < 2) return "";
  std::string pattern = digit_pattern(names.front());
  if (pattern.find('*') == std::string::npos) return "";
  for (const auto& name : names) {
    if (digit_pattern(name) != pattern) return "";
  }
  return pattern;
}

std::string ranks_text(const std::vector<int>& input) {
  std::vector<int> ranks = input;
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  if (ranks.empty()) return "";
  if (ranks.size() == 1) return fmt::format("rank {}", ranks.front());
  bool contiguous = ranks.back() - ranks.front() + 1 == static_cast<int>(ranks.size());
  if (contiguous && ranks.size() > 2) return fmt::format("ranks {}-{}", ranks.front(), ranks.back());
  std::string out = "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i > 0) out += i + 1 == ranks.size() ? " and " : ", ";
    out += std::to_string(ranks[i]);
  }
  return out;
}

Story build_story(const RunReports& run) {
  Story story;
  story.path = run.path;
  auto files = run.all();
  for (const ReportFile* file : files) {
    story.files.push_back(file->file);
    if (file->rank) story.ranks.push_back(*file->rank);
  }
  if (!files.empty()) {
    story.command = files.front()->report.command;
    story.source = files.front()->report.source;
  }
  for (const ReportFile* file : files) {
    const auto& training = file->report.training;
    if (!training) continue;
    story.trained = true;
    if (!story.world_size) story.world_size = training->world_size;
    if (!story.stopped && training->stopped) story.stopped = training->stopped;
  }
  if (!story.world_size && run.directory && !run.ranks.empty()) story.world_size = static_cast<int>(run.ranks.size());
  // A multi-rank report (preflight --world-size N) has no rank files: its records say the ranks.
  if (story.ranks.empty()) story.ranks = ranks_in_records(files);
  if (!story.world_size) story.world_size = declared_world_size(files);
  if (!story.world_size && story.ranks.size() > 1) story.world_size = story.ranks.back() + 1;

  // Every finding once, in the order the reports give them.
  std::set<OccurrenceKey> seen;
  std::map<std::string, std::vector<Occurrence>> by_code;
  std::vector<std::string> codes;
  std::set<std::string> missing_keys;
  for (const ReportFile* file : files) {
    for (const auto& f : file->report.findings) {
      std::optional<int> rank = f.rank ? f.rank : file->rank;
      if (!seen.insert(key_of(f, rank)).second) continue;
      if (by_code.find(f.code) == by_code.end()) codes.push_back(f.code);
      by_code[f.code].push_back({&f, file, rank});
      if (f.code == "missing-key" && f.tensor) missing_keys.insert(*f.tensor);
      if (f.repaired) {
        ++story.repaired;
      } else if (f.allowed) {
        ++story.allowed;
      } else if (f.severity == Severity::Error) {
        ++story.errors;
      } else if (f.severity == Severity::Warning) {
        ++story.warnings;
      }
    }
  }
  HistoryFinder finder(run, missing_keys);
  for (const auto& code : codes) story.problems.push_back(build_problem(code, by_code[code], finder));
  std::stable_sort(story.problems.begin(), story.problems.end(), [](const Problem& a, const Problem& b) {
    return std::make_tuple(order_of(a), a.code) < std::make_tuple(order_of(b), b.code);
  });
  story.headline = headline(story);
  return story;
}

}  // namespace metaguard
