#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/report.hpp"

namespace metaguard {

// One report file as read, with the rank it speaks for (from "rank<k>.json" or the
// report's own "rank" field; none for a run's combined report.json).
struct ReportFile {
  std::string file;
  std::optional<int> rank;
  Report report;
};

// What `metaguard train --out DIR` leaves behind (CONTRACT.md): DIR/report.json and
// DIR/rank<k>.json, or one report file given directly.
struct RunReports {
  std::string path;
  bool directory = false;  // a run directory, not a single file
  std::optional<ReportFile> run;  // report.json, or a single report that names no rank
  std::vector<ReportFile> ranks;  // by rank, ascending

  // Every report read, the run's first.
  std::vector<const ReportFile*> all() const;
};

// Reads a run directory or one report .json. Throws InputError naming the path (and, for a
// malformed report, the file and field) when it cannot.
RunReports read_run(const std::string& path);

// Reads and parses one report file; errors name the file and the field.
Report read_report_file(const std::string& file);

// The rank a report file name gives ("rank3.json" -> 3), if it has that shape.
std::optional<int> rank_from_file_name(const std::string& name);

}  // namespace metaguard
