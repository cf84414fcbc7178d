#pragma once
#include <cstdint>

namespace metaguard {

// Linear warmup to the peak rate, then a cosine decay to min_ratio * peak at the last step.
// A pure function of the step, so a resumed run continues on the same curve.
class LrSchedule {
 public:
  LrSchedule(double peak, int64_t warmup_steps, int64_t total_steps, double min_ratio = 0.1);
  // Learning rate of optimizer step `step` (0-based).
  double at(int64_t step) const;

 private:
  double peak_;
  int64_t warmup_;
  int64_t total_;
  double min_ratio_;
};

}  // namespace metaguard
