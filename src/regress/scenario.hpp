#pragma once
#include <optional>
#include <string>
#include <vector>

namespace metaguard {

// A finding that must be present: its code, a regular expression its tensor must match
// (whole name), and optionally the ranks and the phase where it must be found.
struct ExpectedFinding {
  std::string code;
  std::string tensor;      // ECMAScript regex; "" = any tensor (or none)
  std::vector<int> ranks;  // every listed rank must have one; empty: any rank
  std::optional<std::string> phase;
  std::optional<std::string> severity;
};

// One regression case (docs/SCENARIOS.md): what to run and what must come out.
struct Scenario {
  std::string file;         // where it was read from
  std::string name;
  std::string description;
  std::string reproduces;   // public issue(s), e.g. "Lightning-AI/litgpt#1378, #1385"
  std::string command;      // preflight | scan | train
  std::vector<std::string> args;  // after the command; {fixtures} and {scenario_dir} are substituted
  double timeout_seconds = 300;

  int expect_exit_code = 0;
  std::vector<ExpectedFinding> expect_findings;
  std::vector<std::string> expect_absent;  // codes that must not appear (any severity but info)
  bool expect_no_errors = false;           // no unrepaired error may remain
  std::optional<std::string> twin;         // training: final loss must equal this scenario's
};

// Reads one scenario file; throws InputError naming the file and the field.
Scenario load_scenario(const std::string& path);

// Every *.json in `directory`, sorted by file name; throws InputError when the directory
// cannot be read.
std::vector<Scenario> load_scenarios(const std::string& directory);

}  // namespace metaguard
