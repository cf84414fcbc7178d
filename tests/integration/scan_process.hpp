#pragma once
// Runs a program as a user would (argv, no shell) and captures its exit code and output;
// used by the scan and Python interop tests. A run past its timeout is killed and reported.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "unit/base/checkpoint_test_support.hpp"

namespace metaguard::test {

struct ProcessResult {
  int exit_code = -1;  // -1: killed (timeout) or a signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

inline ProcessResult run_process(const std::vector<std::string>& argv, int timeout_s = 120) {
  TempDir dir;
  const std::string out_path = dir.file("stdout");
  const std::string err_path = dir.file("stderr");
  pid_t child = ::fork();
  if (child < 0) return {};
  if (child == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = read_binary(out_path);
  result.err = read_binary(err_path);
  return result;
}

inline ProcessResult run_metaguard(std::vector<std::string> args) {
  args.insert(args.begin(), build_path("metaguard"));
  return run_process(args);
}

}  // namespace metaguard::test
