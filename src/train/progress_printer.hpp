#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace metaguard {

// Rank 0's account of the run on stderr: on a terminal one progress line rewritten in
// place (step, loss, tokens/s, ETA); otherwise one plain line per step, for logs and CI.
// Other messages (validation, checkpoints, warnings) always get their own line.
class ProgressPrinter {
 public:
  // `terminal`: stderr is a terminal (or the launcher says its own is: METAGUARD_TTY=1).
  ProgressPrinter(bool enabled, bool terminal, int64_t total_steps);

  void step(int64_t step, double loss, double lr, double tokens_per_s, double seconds_per_step);
  void line(const std::string& text);
  void finish();

 private:
  bool enabled_;
  bool terminal_;
  int64_t total_;
  bool open_line_ = false;
};

// Whether stderr is a terminal, honouring the launcher's METAGUARD_TTY.
bool stderr_is_terminal();

}  // namespace metaguard
