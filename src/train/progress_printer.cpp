#include "train/progress_printer.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace metaguard {
namespace {

std::string duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace

bool stderr_is_terminal() {
  if (const char* forced = std::getenv("METAGUARD_TTY"); forced && *forced) return std::strcmp(forced, "1") == 0;
  return ::isatty(STDERR_FILENO) == 1;
}

ProgressPrinter::ProgressPrinter(bool enabled, bool terminal, int64_t total_steps)
    : enabled_(enabled), terminal_(terminal), total_(total_steps) {}

void ProgressPrinter::step(int64_t step, double loss, double lr, double tokens_per_s, double seconds_per_step) {
  if (!enabled_) return;
  const double eta = seconds_per_step * static_cast<double>(total_ - step);
  std::string text = fmt::format("step {}/{}  loss {:.4f}  lr {:.2e}  {:.0f} tokens/s  eta {}", step, total_, loss, lr,
                                 tokens_per_s, duration(eta));
  if (terminal_) {
    std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
    open_line_ = true;
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

void ProgressPrinter::line(const std::string& text) {
  if (!enabled_) return;
  if (open_line_) std::fprintf(stderr, "\n");
  open_line_ = false;
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

void ProgressPrinter::finish() {
  if (open_line_) std::fprintf(stderr, "\n");
  open_line_ = false;
  std::fflush(stderr);
}

}  // namespace metaguard
