#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/report.hpp"
#include "explain/run_reader.hpp"
#include "report/name_patterns.hpp"  // natural_less

namespace metaguard {

// What happened to one group of tensors, rank by rank.
struct RankHistory {
  std::vector<int> ranks;  // empty: the report names no rank
  std::string history;     // tensor_history's words
};

// Tensors with the same problem and the same story (e.g. every layer's lora_ind).
struct TensorGroup {
  std::vector<std::string> tensors;  // natural order: h.2 before h.10
  std::string pattern;  // "transformer.h.*.attn.attn.lora_ind" when several names differ only in numbers
  std::vector<RankHistory> histories;  // ranks with the same words share one entry
};

// One finding code across every report read: the story's unit.
struct Problem {
  std::string code;
  Severity severity = Severity::Error;  // the worst of its open findings
  bool repaired = false;  // every finding of this code was repaired
  bool allowed = false;   // every open finding of this code was allowed by --allow
  int findings = 0;       // after merging duplicates (the run report repeats the ranks')
  std::vector<int> ranks;
  std::vector<std::string> phases;  // where the checks saw it
  std::vector<TensorGroup> groups;  // "(model)"-level findings have a group with no tensors
  std::string cause;
  std::string fix;
  std::vector<std::string> hints;     // the checks' own hints, distinct
  std::vector<std::string> messages;  // distinct messages of findings about no single tensor
  int tensor_count() const;
};

// The explanation of a run (or of one report), as plain data for the renderers.
struct Story {
  std::string path;
  std::string command;
  std::string source;
  std::vector<std::string> files;  // the reports read, run report first
  std::vector<int> ranks;          // ranks that had their own report, else those the records name
  std::optional<int> world_size;   // training's, preflight's, the rank files', or max rank + 1
  bool trained = false;            // a report had a training block
  std::optional<StopReason> stopped;
  std::string headline;            // one sentence: what happened
  std::vector<Problem> problems;   // open errors first, then warnings, info, repaired
  int errors = 0;                  // open error findings after merging duplicates
  int warnings = 0;
  int repaired = 0;
  int allowed = 0;

  // 0 when no error finding remains, 1 otherwise (CONTRACT.md's exit codes).
  int exit_code() const { return errors > 0 ? 1 : 0; }
};

Story build_story(const RunReports& run);

// "rank 1", "ranks 0 and 1", "ranks 0-7", "ranks 0, 2 and 5"
std::string ranks_text(const std::vector<int>& ranks);
// The names with every all-digit segment replaced by '*' when that gives one pattern for
// all of them and more than one name; "" otherwise.
std::string name_pattern(const std::vector<std::string>& names);

}  // namespace metaguard
