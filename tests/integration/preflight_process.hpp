#pragma once
// `metaguard preflight --format json ...` as a process, its report parsed: shared by the
// preflight tests with and without a checkpoint.
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/run_process.hpp"

namespace metaguard::test {

struct PreflightRun {
  int exit_code;
  nlohmann::json report;  // null when nothing was printed (an input error)
  std::string err;
};

inline PreflightRun preflight(const std::vector<std::string>& args) {
  std::vector<std::string> argv{metaguard_exe(), "preflight", "--format", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_process(argv, 300);
  INFO(result.err);
  REQUIRE_FALSE(result.timed_out);
  nlohmann::json report = result.out.empty() ? nlohmann::json() : nlohmann::json::parse(result.out);
  return {result.exit_code, report, result.err};
}

}  // namespace metaguard::test
