#pragma once
#include <string>
#include <vector>

namespace metaguard {

// The outcome of a finished child process.
struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal or by the timeout
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] a path) with stdin closed, capturing stdout and stderr; kills it
// after `timeout_seconds`. `env` entries ("NAME=value") are added to the environment.
ProcessResult run_process(const std::vector<std::string>& argv, double timeout_seconds = 120,
                          const std::vector<std::string>& env = {});

}  // namespace metaguard
