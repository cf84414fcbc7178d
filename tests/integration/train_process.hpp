#pragma once
// `metaguard train` as a user runs it, for the trainer's integration tests: runs with a
// deadline, parses the JSON run report from stdout, and offers the run directory and
// process-table helpers the multi-process tests need.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/run_process.hpp"
#include "support/scratch_dir.hpp"

namespace metaguard::test {

struct TrainRun {
  int exit_code = -1;
  bool timed_out = false;
  double seconds = 0;
  nlohmann::json report;  // the run report (stdout, --format json); null when none
  std::string out, err;
};

// Small and fast: the micro model, 32-token sequences, 4 sequences per step.
inline std::vector<std::string> fast_args() {
  return {"--seq-len", "32", "--global-batch", "4", "--eval-every", "5", "--format", "json"};
}

inline TrainRun train(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                      double timeout_s = 240) {
  std::vector<std::string> argv{metaguard_exe(), "train"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto start = std::chrono::steady_clock::now();
  ProcessResult result = run_process(argv, timeout_s, env);
  TrainRun run;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.exit_code = result.exit_code;
  run.timed_out = result.timed_out;
  run.out = result.out;
  run.err = result.err;
  run.report = nlohmann::json::parse(result.out, nullptr, false);
  if (run.report.is_discarded()) run.report = nullptr;
  return run;
}

inline std::vector<double> losses(const nlohmann::json& report) {
  std::vector<double> out;
  for (const auto& loss : report["training"]["losses"]) out.push_back(loss.get<double>());
  return out;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str(), nullptr, false);
}


using RunDir = ScratchDir;

// A TCP port nothing listens on right now.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Processes whose command line mentions `needle` (a run's unique --out directory).
inline std::vector<int> processes_mentioning(const std::string& needle) {
  std::vector<int> found;
  DIR* proc = ::opendir("/proc");
  if (!proc) return found;
  while (dirent* entry = ::readdir(proc)) {
    const std::string name = entry->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = slurp("/proc/" + name + "/cmdline");
    for (auto& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(needle) != std::string::npos) found.push_back(std::stoi(name));
  }
  ::closedir(proc);
  return found;
}

}  // namespace metaguard::test
