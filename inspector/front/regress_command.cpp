#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli_support.hpp"
#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "core/shipped_files.hpp"
#include "front/commands.hpp"
#include "regress/scenario_runner.hpp"
#include "report/junit_xml.hpp"

namespace metaguard::cli {
namespace {

// Without a DIR: $METAGUARD_SCENARIOS_DIR when set, else ./fixtures/scenarios when there is
// one (a source checkout), else the scenarios metaguard ships (installed beside it, or in
// the source tree it was built in).
std::string default_scenario_dir() {
  if (const char* env = std::getenv("METAGUARD_SCENARIOS_DIR"); env && *env) return env;
  const std::string local = "fixtures/scenarios";
  std::error_code error;
  if (std::filesystem::is_directory(local, error)) return local;
  auto shipped = shipped_dirs("scenarios", nullptr);
  return shipped.empty() ? local : shipped.front().string();
}

// The fixtures folder beside the scenarios folder, when it has the usual layout.
std::string fixtures_of(const std::string& scenario_dir) {
  std::string dir = scenario_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  auto slash = dir.find_last_of('/');
  return slash == std::string::npos ? "." : dir.substr(0, slash);
}

JUnitSuite junit_of(const std::vector<ScenarioOutcome>& outcomes, double seconds) {
  JUnitSuite suite;
  suite.name = "metaguard regress";
  suite.time_s = seconds;
  for (const auto& outcome : outcomes) {
    JUnitCase test_case;
    test_case.name = outcome.name;
    test_case.classname = "metaguard.regress";
    test_case.time_s = outcome.seconds;
    test_case.system_out = outcome.description + (outcome.reproduces.empty() ? "" : " (reproduces " + outcome.reproduces + ")");
    if (!outcome.passed) {
      test_case.failure = JUnitFailure{outcome.failures.front(), "scenario", fmt::format("{}", fmt::join(outcome.failures, "\n"))};
    }
    suite.cases.push_back(std::move(test_case));
  }
  return suite;
}

}  // namespace

int run_regress(const std::vector<std::string>& args) {
  std::string directory = default_scenario_dir();
  std::string format = "text";
  std::string out;
  int jobs = 2;
  po::options_description flags("regress options");
  flags.add_options()
      ("dir", po::value(&directory)->default_value(directory), "folder of scenario *.json files")
      ("format", po::value(&format)->default_value(format), "text or junit")
      ("out", output_path_value(&out), "write the text or JUnit XML there (atomically) instead of stdout ('-': stdout)")
      ("jobs", po::value(&jobs)->default_value(jobs), "scenarios run at once");
  po::positional_options_description positionals;
  positionals.add("dir", 1);
  po::variables_map values;
  if (!parse_arguments("regress", "metaguard regress [DIR] [--format text|junit] [--out PATH]", args, flags,
                       positionals, values)) {
    return 0;
  }
  if (format != "text" && format != "junit") throw InputError(fmt::format("--format: regress writes text or junit, not '{}'", format));
  if (jobs < 1) throw InputError("--jobs: must be at least 1");

  std::vector<Scenario> scenarios = load_scenarios(directory);
  if (scenarios.empty()) throw InputError(fmt::format("'{}': holds no scenario (*.json)", directory));
  std::string self = executable_path().string();
  RegressOptions options{self.empty() ? "metaguard" : self, fixtures_of(directory), jobs};
  auto start = std::chrono::steady_clock::now();
  std::vector<ScenarioOutcome> outcomes = run_scenarios(scenarios, options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int passed = 0, failed = 0;
  std::string text;
  for (const auto& outcome : outcomes) {
    (outcome.passed ? passed : failed)++;
    text += fmt::format("{} {} ({:.1f} s){}\n", outcome.passed ? "PASS" : "FAIL", outcome.name, outcome.seconds,
                        outcome.reproduces.empty() ? "" : "  [" + outcome.reproduces + "]");
    for (const auto& failure : outcome.failures) text += fmt::format("     {}\n", failure);
  }
  text += fmt::format("{} passed, {} failed\n", passed, failed);

  std::string document = format == "junit" ? write_junit("metaguard regress", {junit_of(outcomes, seconds)}) : text;
  deliver_output(out, document);
  if (!out.empty() && format == "junit") std::cout << text;  // the person at the terminal still sees the results
  return failed == 0 ? 0 : 1;
}

}  // namespace metaguard::cli
