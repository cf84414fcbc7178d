#include "regress/scenario_runner.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "core/parallel.hpp"
#include "core/subprocess.hpp"

namespace metaguard {
namespace {

using nlohmann::json;

std::string describe_expected(const ExpectedFinding& expected) {
  std::string text = expected.code;
  if (!expected.tensor.empty()) text += fmt::format(" on /{}/", expected.tensor);
  if (expected.phase) text += fmt::format(" at {}", *expected.phase);
  if (expected.severity) text += fmt::format(" ({})", *expected.severity);
  return text;
}

std::string describe_found(const json& finding) {
  return fmt::format("{} on {} rank {} at {}{}", finding.value("code", "?"),
                     finding["tensor"].is_string() ? finding["tensor"].get<std::string>() : "(model)",
                     finding["rank"].is_number() ? std::to_string(finding["rank"].get<int>()) : "-",
                     finding["phase"].is_string() ? finding["phase"].get<std::string>() : "-",
                     finding.value("repaired", false) ? " (repaired)" : "");
}

// Up to five findings of `code`, for a failure message.
std::string sample_of(const json& findings, const std::string& code) {
  std::vector<std::string> sample;
  for (const auto& f : findings) {
    if (f.value("code", "") == code && sample.size() < 5) sample.push_back(describe_found(f));
  }
  return sample.empty() ? "none" : fmt::format("{}", fmt::join(sample, "; "));
}

bool matches(const ExpectedFinding& expected, const json& finding) {
  if (finding.value("code", "") != expected.code) return false;
  if (!expected.tensor.empty()) {
    if (!finding["tensor"].is_string()) return false;
    if (!std::regex_match(finding["tensor"].get<std::string>(), std::regex(expected.tensor))) return false;
  }
  if (expected.phase && (!finding["phase"].is_string() || finding["phase"].get<std::string>() != *expected.phase)) {
    return false;
  }
  if (expected.severity && finding.value("severity", "") != *expected.severity) return false;
  return true;
}

std::vector<std::string> substitute(const Scenario& scenario, const RegressOptions& options) {
  std::string directory = scenario.file.substr(0, scenario.file.find_last_of('/') + 1);
  std::vector<std::string> args;
  for (std::string arg : scenario.args) {
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"{fixtures}", options.fixtures_dir},
                                     {"{scenario_dir}", directory.empty() ? "." : directory}}) {
      for (size_t at = arg.find(key); at != std::string::npos; at = arg.find(key, at + value.size())) {
        arg.replace(at, key.size(), value);
      }
    }
    args.push_back(arg);
  }
  return args;
}

ScenarioOutcome run_one(const Scenario& scenario, const RegressOptions& options) {
  ScenarioOutcome outcome;
  outcome.name = scenario.name;
  outcome.file = scenario.file;
  outcome.description = scenario.description;
  outcome.reproduces = scenario.reproduces;
  std::vector<std::string> argv{options.metaguard, scenario.command};
  for (auto& arg : substitute(scenario, options)) argv.push_back(std::move(arg));
  argv.insert(argv.end(), {"--format", "json"});
  auto start = std::chrono::steady_clock::now();
  ProcessResult result = run_process(argv, scenario.timeout_seconds);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.exit_code = result.exit_code;
  if (result.timed_out) {
    outcome.failures.push_back(fmt::format("did not finish within {} s", scenario.timeout_seconds));
    return outcome;
  }
  json report;
  try {
    report = json::parse(result.out);
  } catch (const json::exception&) {
    outcome.failures.push_back(fmt::format("exit code {}, and no JSON report came out; stderr: {}", result.exit_code,
                                           result.err.substr(0, 400)));
    return outcome;
  }
  outcome.failures = evaluate_scenario(scenario, result.exit_code, report);
  if (report.contains("training") && report["training"]["final_loss"].is_number()) {
    outcome.final_loss = report["training"]["final_loss"].get<double>();
  }
  outcome.passed = outcome.failures.empty();
  return outcome;
}

}  // namespace

std::vector<std::string> evaluate_scenario(const Scenario& scenario, int exit_code, const json& report) {
  std::vector<std::string> failures;
  if (exit_code != scenario.expect_exit_code) {
    failures.push_back(fmt::format("expected exit code {}, got {}", scenario.expect_exit_code, exit_code));
  }
  const json findings = report.value("findings", json::array());
  for (const auto& expected : scenario.expect_findings) {
    std::vector<const json*> hits;
    for (const auto& f : findings) {
      if (matches(expected, f)) hits.push_back(&f);
    }
    if (expected.ranks.empty()) {
      if (hits.empty()) {
        failures.push_back(fmt::format("expected {}; found of that code: {}", describe_expected(expected),
                                       sample_of(findings, expected.code)));
      }
      continue;
    }
    for (int rank : expected.ranks) {
      bool on_rank = std::any_of(hits.begin(), hits.end(), [rank](const json* f) {
        return (*f)["rank"].is_number_integer() && (*f)["rank"].get<int>() == rank;
      });
      if (!on_rank) {
        failures.push_back(fmt::format("expected {} on rank {}; found of that code: {}", describe_expected(expected),
                                       rank, sample_of(findings, expected.code)));
      }
    }
  }
  for (const auto& code : scenario.expect_absent) {
    for (const auto& f : findings) {
      if (f.value("code", "") == code && f.value("severity", "") != "info" && !f.value("repaired", false)) {
        failures.push_back(fmt::format("expected no unrepaired {}, found: {}", code, sample_of(findings, code)));
        break;
      }
    }
  }
  if (scenario.expect_no_errors) {
    int64_t errors = report.contains("summary") ? report["summary"].value("errors", int64_t{-1}) : -1;
    if (errors != 0) failures.push_back(fmt::format("expected no remaining error, the summary says {}", errors));
  }
  return failures;
}

std::vector<ScenarioOutcome> run_scenarios(const std::vector<Scenario>& scenarios, const RegressOptions& options) {
  std::vector<ScenarioOutcome> outcomes(scenarios.size());
  std::atomic<size_t> next{0};
  run_parallel(options.jobs, [&](int, int) {
    for (size_t i = next++; i < scenarios.size(); i = next++) outcomes[i] = run_one(scenarios[i], options);
  });

  // A repaired training run must end where its clean twin ends.
  std::map<std::string, const ScenarioOutcome*> by_name;
  for (const auto& outcome : outcomes) by_name[outcome.name] = &outcome;
  for (size_t i = 0; i < scenarios.size(); ++i) {
    if (!scenarios[i].twin) continue;
    auto twin = by_name.find(*scenarios[i].twin);
    ScenarioOutcome& outcome = outcomes[i];
    if (twin == by_name.end()) {
      outcome.failures.push_back(fmt::format("its twin '{}' is not among the scenarios", *scenarios[i].twin));
    } else if (!outcome.final_loss || !twin->second->final_loss) {
      outcome.failures.push_back(fmt::format("no final loss to compare with twin '{}'", *scenarios[i].twin));
    } else if (std::abs(*outcome.final_loss - *twin->second->final_loss) > 1e-5) {
      outcome.failures.push_back(fmt::format("final loss {:.6f} differs from twin '{}''s {:.6f}", *outcome.final_loss,
                                             *scenarios[i].twin, *twin->second->final_loss));
    }
    outcome.passed = outcome.failures.empty();
  }
  return outcomes;
}

}  // namespace metaguard
