#include "regress/scenario.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/errors.hpp"

namespace metaguard {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& file, const std::string& field, const std::string& what) {
  throw InputError(fmt::format("scenario '{}': {}: {}", file, field, what));
}

const json& require(const json& object, const std::string& key, const std::string& file, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) bad(file, where + key, "missing");
  return *it;
}

std::string string_field(const json& object, const std::string& key, const std::string& file, const std::string& where) {
  const json& value = require(object, key, file, where);
  if (!value.is_string()) bad(file, where + key, "must be a string");
  return value.get<std::string>();
}

void reject_unknown(const json& object, std::initializer_list<const char*> known, const std::string& file,
                    const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return item.key() == k; })) {
      bad(file, where + item.key(), "unknown field");
    }
  }
}

ExpectedFinding parse_expected(const json& value, const std::string& file, const std::string& where) {
  if (!value.is_object()) bad(file, where, "must be an object");
  reject_unknown(value, {"code", "tensor", "ranks", "phase", "severity"}, file, where + ".");
  ExpectedFinding expected;
  expected.code = string_field(value, "code", file, where + ".");
  if (value.contains("tensor")) {
    expected.tensor = string_field(value, "tensor", file, where + ".");
    try {
      std::regex check(expected.tensor);
    } catch (const std::regex_error& error) {
      bad(file, where + ".tensor", fmt::format("not a valid regular expression: {}", error.what()));
    }
  }
  if (value.contains("ranks")) {
    const json& ranks = value["ranks"];
    if (!ranks.is_array()) bad(file, where + ".ranks", "must be an array of integers");
    for (const auto& rank : ranks) {
      if (!rank.is_number_integer()) bad(file, where + ".ranks", "must be an array of integers");
      expected.ranks.push_back(rank.get<int>());
    }
  }
  if (value.contains("phase")) expected.phase = string_field(value, "phase", file, where + ".");
  if (value.contains("severity")) expected.severity = string_field(value, "severity", file, where + ".");
  return expected;
}

}  // namespace

Scenario load_scenario(const std::string& path) {
  json document;
  try {
    document = json::parse(read_file(path));
  } catch (const json::exception& error) {  // a syntax error, or a number out of range (1e999)
    throw InputError(fmt::format("scenario '{}': not valid JSON: {}", path, error.what()));
  }
  if (!document.is_object()) bad(path, "(top level)", "must be an object");
  reject_unknown(document, {"name", "description", "reproduces", "run", "expect", "timeout_seconds"}, path, "");
  Scenario scenario;
  scenario.file = path;
  scenario.name = string_field(document, "name", path, "");
  scenario.description = string_field(document, "description", path, "");
  if (document.contains("reproduces")) scenario.reproduces = string_field(document, "reproduces", path, "");
  if (document.contains("timeout_seconds")) {
    if (!document["timeout_seconds"].is_number() || document["timeout_seconds"].get<double>() <= 0) {
      bad(path, "timeout_seconds", "must be a positive number");
    }
    scenario.timeout_seconds = document["timeout_seconds"].get<double>();
  }

  const json& run = require(document, "run", path, "");
  if (!run.is_object()) bad(path, "run", "must be an object");
  reject_unknown(run, {"command", "args"}, path, "run.");
  scenario.command = string_field(run, "command", path, "run.");
  if (scenario.command != "preflight" && scenario.command != "scan" && scenario.command != "train") {
    bad(path, "run.command", fmt::format("'{}' is not one of preflight, scan, train", scenario.command));
  }
  if (run.contains("args")) {
    if (!run["args"].is_array()) bad(path, "run.args", "must be an array of strings");
    for (const auto& arg : run["args"]) {
      if (!arg.is_string()) bad(path, "run.args", "must be an array of strings");
      scenario.args.push_back(arg.get<std::string>());
    }
  }

  const json& expect = require(document, "expect", path, "");
  if (!expect.is_object()) bad(path, "expect", "must be an object");
  reject_unknown(expect, {"exit_code", "findings", "absent", "no_errors", "twin"}, path, "expect.");
  const json& exit_code = require(expect, "exit_code", path, "expect.");
  if (!exit_code.is_number_integer()) bad(path, "expect.exit_code", "must be an integer");
  scenario.expect_exit_code = exit_code.get<int>();
  if (expect.contains("findings")) {
    if (!expect["findings"].is_array()) bad(path, "expect.findings", "must be an array");
    for (size_t i = 0; i < expect["findings"].size(); ++i) {
      scenario.expect_findings.push_back(parse_expected(expect["findings"][i], path, fmt::format("expect.findings[{}]", i)));
    }
  }
  if (expect.contains("absent")) {
    if (!expect["absent"].is_array()) bad(path, "expect.absent", "must be an array of codes");
    for (const auto& code : expect["absent"]) {
      if (!code.is_string()) bad(path, "expect.absent", "must be an array of codes");
      scenario.expect_absent.push_back(code.get<std::string>());
    }
  }
  if (expect.contains("no_errors")) {
    if (!expect["no_errors"].is_boolean()) bad(path, "expect.no_errors", "must be true or false");
    scenario.expect_no_errors = expect["no_errors"].get<bool>();
  }
  if (expect.contains("twin")) scenario.twin = string_field(expect, "twin", path, "expect.");
  return scenario;
}

std::vector<Scenario> load_scenarios(const std::string& directory) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    throw InputError(fmt::format("'{}': not a directory of scenarios", directory));
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  if (error) throw InputError(fmt::format("'{}': cannot list: {}", directory, error.message()));
  std::sort(files.begin(), files.end());
  std::vector<Scenario> scenarios;
  for (const auto& file : files) scenarios.push_back(load_scenario(file));
  return scenarios;
}

}  // namespace metaguard
