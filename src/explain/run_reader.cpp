#include "explain/run_reader.hpp"

#include <filesystem>
#include <map>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "report/report_json.hpp"

namespace metaguard {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRunReport = "report.json";

// A rank report must agree with its own name; anything else means files were mixed up.
ReportFile read_rank_file(const std::string& file, std::optional<int> rank_from_name) {
  ReportFile out{file, rank_from_name, read_report_file(file)};
  auto field = out.report.extra.find("rank");
  if (field == out.report.extra.end() || field->is_null()) return out;
  if (!field->is_number_integer() || field->get<int64_t>() < 0 || field->get<int64_t>() > 1'000'000) {
    throw InputError(fmt::format("{}.rank: is not a rank (a non-negative integer)", file));
  }
  int rank = static_cast<int>(field->get<int64_t>());
  if (rank_from_name && *rank_from_name != rank) {
    throw InputError(fmt::format("{}.rank: is {}, but the file name says rank {}", file, rank, *rank_from_name));
  }
  out.rank = rank;
  return out;
}

}  // namespace

std::vector<const ReportFile*> RunReports::all() const {
  std::vector<const ReportFile*> out;
  if (run) out.push_back(&*run);
  for (const auto& rank : ranks) out.push_back(&rank);
  return out;
}

std::optional<int> rank_from_file_name(const std::string& name) {
  const std::string prefix = "rank";
  const std::string suffix = ".json";
  if (name.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return std::nullopt;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 6) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoi(digits);
}

Report read_report_file(const std::string& file) {
  std::error_code error;
  auto status = fs::status(file, error);
  if (error || !fs::exists(status)) throw InputError(fmt::format("cannot read '{}': no such file", file));
  if (fs::is_directory(status)) throw InputError(fmt::format("'{}' is a directory, not a report file", file));
  // Devices and pipes could stream forever: only a regular file has a size to trust.
  if (!fs::is_regular_file(status)) throw InputError(fmt::format("'{}' is not a regular file", file));
  std::string text = read_file(file);
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number out of range (1e999)
    throw InputError(fmt::format("'{}' is not valid JSON: {}", file, e.what()));
  }
  try {
    return report_from_json(document, file);
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong type deep inside (e.g. a loss that is a string).
    throw InputError(fmt::format("'{}' does not follow the report schema: {}", file, e.what()));
  } catch (const std::logic_error& e) {
    throw InputError(fmt::format("'{}' does not follow the report schema: {}", file, e.what()));
  }
}

RunReports read_run(const std::string& path) {
  RunReports run;
  run.path = path;
  std::error_code error;
  auto status = fs::status(path, error);
  if (error || !fs::exists(status)) throw InputError(fmt::format("cannot read '{}': no such file or directory", path));

  if (!fs::is_directory(status)) {
    ReportFile single = read_rank_file(path, std::nullopt);
    if (single.rank) {
      run.ranks.push_back(std::move(single));
    } else {
      run.run = std::move(single);
    }
    return run;
  }

  run.directory = true;
  std::map<int, std::string> rank_files;
  fs::directory_iterator it(path, error);
  if (error) throw InputError(fmt::format("cannot list '{}': {}", path, error.message()));
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) throw InputError(fmt::format("cannot list '{}': {}", path, error.message()));
    std::string name = it->path().filename().string();
    auto rank = rank_from_file_name(name);
    if (!rank) continue;
    auto [existing, inserted] = rank_files.emplace(*rank, it->path().string());
    if (!inserted) {
      throw InputError(fmt::format("'{}': both '{}' and '{}' claim rank {}", path, existing->second,
                                   it->path().string(), *rank));
    }
  }
  fs::path combined = fs::path(path) / kRunReport;
  bool has_combined = fs::exists(combined, error);
  if (!has_combined && rank_files.empty()) {
    throw InputError(fmt::format("'{}': no report.json or rank<k>.json in this directory", path));
  }
  if (has_combined) {
    run.run = read_rank_file(combined.string(), std::nullopt);
    run.run->rank.reset();  // the run's report speaks for all ranks
  }
  for (const auto& [rank, file] : rank_files) run.ranks.push_back(read_rank_file(file, rank));
  return run;
}

}  // namespace metaguard
