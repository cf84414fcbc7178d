#include "train/launcher.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "report/report_json.hpp"

extern char** environ;

namespace metaguard {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_launcher_signal{0};

extern "C" void on_launcher_signal(int signal_number) { g_launcher_signal.store(signal_number); }

struct Child {
  int rank = 0;
  pid_t pid = -1;
  int out = -1;  // read ends
  int err = -1;
  std::string out_buffer, err_buffer;
  bool running = true;
  RankExit exit;
};

// Writes complete lines (ended by '\n' or, for progress lines, '\r') with the rank prefix.
void forward(std::string& buffer, int rank, FILE* sink, bool flush_all) {
  size_t start = 0;
  for (size_t i = 0; i < buffer.size(); ++i) {
    if (buffer[i] != '\n' && buffer[i] != '\r') continue;
    std::fprintf(sink, "[rank %d] %.*s%c", rank, static_cast<int>(i - start), buffer.data() + start, buffer[i]);
    start = i + 1;
  }
  if (flush_all && start < buffer.size()) {
    std::fprintf(sink, "[rank %d] %.*s\n", rank, static_cast<int>(buffer.size() - start), buffer.data() + start);
    start = buffer.size();
  }
  buffer.erase(0, start);
  std::fflush(sink);
}

void signal_all(std::vector<Child>& children, int signal_number) {
  for (auto& child : children) {
    if (child.running) ::kill(-child.pid, signal_number);
  }
}

std::string describe(const RankExit& exit) {
  if (exit.signal) return fmt::format("was killed by signal {} ({})", *exit.signal, strsignal(*exit.signal));
  return fmt::format("exited with code {}", exit.exit_code.value_or(-1));
}

// When rank 0 left no run report (it died), one made from what is known: the launcher's
// view of the exits and the rank reports in --out.
Report fallback_report(const LaunchOptions& options, const std::vector<Child>& children) {
  Report report;
  report.command = "train";
  report.source = "train";
  TrainingInfo training;
  training.world_size = options.nproc;
  for (const auto& child : children) {
    if (!options.out.empty()) {
      fs::path file = fs::path(options.out) / fmt::format("rank{}.json", child.rank);
      std::error_code error;
      if (fs::exists(file, error)) {
        try {
          Report rank = report_from_json(nlohmann::json::parse(read_file(file.string())), file.string());
          report.source = rank.source;
          for (auto finding : rank.findings) {
            finding.rank = finding.rank.value_or(child.rank);
            report.findings.push_back(finding);
          }
          if (rank.training && child.rank == 0) training = *rank.training;
        } catch (const std::exception&) {
          // An unreadable rank report changes nothing about who died.
        }
      }
    }
  }
  for (const auto& child : children) {
    if (child.exit.exit_code == 0) continue;
    training.stopped = StopReason{"unknown", child.rank,
                                  fmt::format("rank {} {} without a run report", child.rank, describe(child.exit))};
    break;
  }
  sort_findings(report.findings);
  report.training = training;
  return report;
}

// What every rank's process gets, built before the first fork (only async-signal-safe calls
// happen between fork and exec).
struct RankLaunch {
  std::vector<std::string> argv;
  std::vector<std::string> inherited_env;  // this process's, less the variables set per rank
  int world_size = 1;
  int port = 0;
  std::string report_path;  // rank 0 leaves the run report here
  bool terminal = false;
  pid_t launcher = 0;
};

std::vector<std::string> inherited_environment(int threads_per_rank) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    std::string text(*entry);
    for (const char* name : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=",
                             "METAGUARD_LAUNCHED=", "METAGUARD_RUN_REPORT=", "METAGUARD_TTY="}) {
      if (text.rfind(name, 0) == 0) text.clear();
    }
    if (!text.empty()) env.push_back(text);
  }
  for (const char* name : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    if (!std::getenv(name)) env.push_back(fmt::format("{}={}", name, threads_per_rank));
  }
  return env;
}

// Starts rank `r` in its own process group, its stdout and stderr on pipes to the launcher.
// On failure the ranks already started are killed and an InputError names the rank.
void start_rank(int r, RankLaunch& launch, std::vector<Child>& children) {
  std::vector<std::string> env_storage = launch.inherited_env;
  env_storage.push_back(fmt::format("RANK={}", r));
  env_storage.push_back(fmt::format("WORLD_SIZE={}", launch.world_size));
  env_storage.push_back(fmt::format("LOCAL_RANK={}", r));
  env_storage.push_back(fmt::format("LOCAL_WORLD_SIZE={}", launch.world_size));
  env_storage.push_back("MASTER_ADDR=127.0.0.1");
  env_storage.push_back(fmt::format("MASTER_PORT={}", launch.port));
  env_storage.push_back("METAGUARD_LAUNCHED=1");
  env_storage.push_back(fmt::format("METAGUARD_TTY={}", launch.terminal ? 1 : 0));
  if (r == 0) env_storage.push_back("METAGUARD_RUN_REPORT=" + launch.report_path);
  std::vector<char*> envp, argv;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  for (auto& arg : launch.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    signal_all(children, SIGKILL);
    throw InputError(fmt::format("cannot create pipes for rank {}: {}", r, std::strerror(errno)));
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the launcher dies: so do its ranks
    if (::getppid() != launch.launcher) ::_exit(127);
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    signal_all(children, SIGKILL);
    throw InputError(fmt::format("cannot start rank {}: {}", r, std::strerror(errno)));
  }
  ::setpgid(pid, pid);
  Child& child = children[static_cast<size_t>(r)];
  child.rank = r;
  child.pid = pid;
  child.out = out_pipe[0];
  child.err = err_pipe[0];
  child.exit.rank = r;
}

bool any_running(const std::vector<Child>& children) {
  for (const auto& child : children) {
    if (child.running || child.out >= 0 || child.err >= 0) return true;
  }
  return false;
}

// One round of output: waits up to 100 ms for any rank's stdout or stderr and forwards whole
// lines with the rank's prefix; a closed pipe flushes what is left.
void forward_output(std::vector<Child>& children) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Child*, bool>> owners;  // (child, is stderr)
  for (auto& child : children) {
    if (child.out >= 0) {
      fds.push_back({child.out, POLLIN, 0});
      owners.emplace_back(&child, false);
    }
    if (child.err >= 0) {
      fds.push_back({child.err, POLLIN, 0});
      owners.emplace_back(&child, true);
    }
  }
  if (!fds.empty()) ::poll(fds.data(), fds.size(), 100);
  else ::usleep(50 * 1000);
  char buffer[65536];
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    auto [child, is_err] = owners[i];
    ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
    std::string& pending = is_err ? child->err_buffer : child->out_buffer;
    FILE* sink = is_err ? stderr : stdout;
    if (n > 0) {
      pending.append(buffer, static_cast<size_t>(n));
      forward(pending, child->rank, sink, false);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      forward(pending, child->rank, sink, true);
      ::close(fds[i].fd);
      (is_err ? child->err : child->out) = -1;
    }
  }
}

// Records the ranks that exited since the last look; the first failure starts the grace time.
void reap_exits(std::vector<Child>& children, std::optional<Clock::time_point>& first_failure) {
  for (auto& child : children) {
    if (!child.running) continue;
    int status = 0;
    if (::waitpid(child.pid, &status, WNOHANG) != child.pid) continue;
    child.running = false;
    if (WIFEXITED(status)) child.exit.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) child.exit.signal = WTERMSIG(status);
    const bool failed = !child.exit.exit_code || *child.exit.exit_code != 0;
    if (failed) {
      std::fprintf(stderr, "[launcher] rank %d %s\n", child.rank, describe(child.exit).c_str());
      if (!first_failure) first_failure = Clock::now();
    }
    // Rank 0 gone means the rendezvous store is gone: nobody can report after that.
    if (child.rank == 0 && !first_failure) first_failure = Clock::now();
  }
}

// The ranks' exits, and the run report rank 0 left (or, when it left none, one made up from
// what is known, also written to --out).
LaunchResult gather_result(const LaunchOptions& options, const std::vector<Child>& children, bool interrupted,
                           const std::string& report_path) {
  LaunchResult result;
  for (const auto& child : children) {
    result.ranks.push_back(child.exit);
    const int code = child.exit.exit_code.value_or(1);
    result.exit_code = std::max(result.exit_code, code == 0 && child.exit.signal ? 1 : code);
  }
  if (interrupted) result.exit_code = std::max(result.exit_code, 1);
  std::error_code error;
  if (fs::exists(report_path, error)) {
    try {
      result.report = report_from_json(nlohmann::json::parse(read_file(report_path)), report_path);
    } catch (const std::exception&) {
      result.report.reset();
    }
  }
  if (!result.report && result.exit_code != 0) {
    result.report = fallback_report(options, children);
    if (!options.out.empty()) {
      try {
        fs::create_directories(options.out);
        write_file_atomically((fs::path(options.out) / "report.json").string(),
                              report_to_json(*result.report).dump(2) + "\n");
      } catch (const std::exception&) {
        // The rank reports are still there for explain.
      }
    }
  }
  return result;
}

// Forwards output and watches the ranks until all have exited: once one fails, the others get a
// grace time, then SIGTERM, then SIGKILL; SIGINT/SIGTERM to the launcher is passed on the same
// way. True when the launcher was interrupted.
bool supervise(std::vector<Child>& children, double timeout_seconds) {
  // After a failure the others are either blocked in a collective with the failed rank
  // (each notices within its own timeout of entering it, usually at once) or hung: a third
  // of the timeout (at least 3 s) lets the first kind write their reports.
  const auto grace = std::chrono::duration<double>(std::max(3.0, timeout_seconds / 3));
  std::optional<Clock::time_point> first_failure, terminated;
  bool interrupted = false;
  while (any_running(children)) {
    forward_output(children);
    reap_exits(children, first_failure);
    if (const int signal_number = g_launcher_signal.exchange(0); signal_number != 0) {
      interrupted = true;
      std::fprintf(stderr, "[launcher] got signal %d: asking every rank to stop\n", signal_number);
      signal_all(children, SIGTERM);
      if (!first_failure) first_failure = Clock::now();
      if (!terminated) terminated = Clock::now();
    }
    const auto now = Clock::now();
    if (first_failure && !terminated && now - *first_failure > grace) {
      std::fprintf(stderr, "[launcher] ranks still running %.0f s after the first failure: SIGTERM\n", grace.count());
      signal_all(children, SIGTERM);
      terminated = now;
    }
    if (terminated && now - *terminated > std::chrono::seconds(2)) {
      for (auto& child : children) {
        if (child.running) std::fprintf(stderr, "[launcher] rank %d did not stop: SIGKILL\n", child.rank);
      }
      signal_all(children, SIGKILL);
    }
  }
  return interrupted;
}

}  // namespace

int pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw InputError(fmt::format("cannot open a socket to find a free port: {}", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw InputError(fmt::format("cannot find a free port on 127.0.0.1: {}", std::strerror(errno)));
  }
  int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

bool port_in_use(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return true;
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));  // as TCPStore binds
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool taken = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0;
  ::close(fd);
  return taken;
}

LaunchResult Launcher::run() {
  const int port = options_.master_port > 0 ? options_.master_port : pick_free_port();
  if (options_.master_port > 0 && port_in_use(port)) {
    throw InputError(fmt::format("--master-port {}: the port is already in use; pick another one (or 0 for a free one)", port));
  }
  // Where rank 0 leaves the run report for us to print.
  char report_dir[] = "/tmp/metaguard-launch-XXXXXX";
  if (!::mkdtemp(report_dir)) throw InputError(fmt::format("cannot create a temporary directory: {}", std::strerror(errno)));
  RankLaunch launch;
  launch.argv = {options_.executable};
  launch.argv.insert(launch.argv.end(), options_.args.begin(), options_.args.end());
  launch.inherited_env = inherited_environment(options_.threads_per_rank);
  launch.world_size = options_.nproc;
  launch.port = port;
  launch.report_path = std::string(report_dir) + "/report.json";
  launch.terminal = ::isatty(STDERR_FILENO) == 1;
  launch.launcher = ::getpid();

  struct sigaction action {};
  action.sa_handler = on_launcher_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);

  std::vector<Child> children(static_cast<size_t>(options_.nproc));
  for (int r = 0; r < options_.nproc; ++r) start_rank(r, launch, children);
  std::fprintf(stderr, "[launcher] started %d ranks (MASTER_ADDR=127.0.0.1 MASTER_PORT=%d)\n", options_.nproc, port);
  const bool interrupted = supervise(children, options_.timeout_seconds);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);

  LaunchResult result = gather_result(options_, children, interrupted, launch.report_path);
  std::error_code error;
  fs::remove_all(report_dir, error);
  return result;
}

}  // namespace metaguard
