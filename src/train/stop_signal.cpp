#include "train/stop_signal.hpp"

#include <signal.h>

#include <atomic>

namespace metaguard {
namespace {

std::atomic<bool> g_requested{false};

extern "C" void on_stop_signal(int signal_number) {
  g_requested.store(true);
  ::signal(signal_number, SIG_DFL);
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() { return g_requested.load(); }

}  // namespace metaguard
