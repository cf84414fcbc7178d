#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "regress/scenario.hpp"

namespace metaguard {

// What came out of one scenario and whether it was what the scenario expects.
struct ScenarioOutcome {
  std::string name;
  std::string file;
  std::string description;
  std::string reproduces;
  bool passed = false;
  double seconds = 0;
  int exit_code = -1;
  std::vector<std::string> failures;  // each: what was expected and what came out
  std::optional<double> final_loss;   // training scenarios
};

struct RegressOptions {
  std::string metaguard;     // the executable each scenario runs
  std::string fixtures_dir;  // substituted for {fixtures}
  int jobs = 2;              // scenarios run at once (each is its own process)
};

// Compares one run's exit code and JSON report with what the scenario expects; returns
// the failures (empty: passed).
std::vector<std::string> evaluate_scenario(const Scenario& scenario, int exit_code, const nlohmann::json& report);

// Runs every scenario (`jobs` at a time), then checks training twins' final losses.
std::vector<ScenarioOutcome> run_scenarios(const std::vector<Scenario>& scenarios, const RegressOptions& options);

}  // namespace metaguard
