#include "train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace metaguard {

LrSchedule::LrSchedule(double peak, int64_t warmup_steps, int64_t total_steps, double min_ratio)
    : peak_(peak), warmup_(std::max<int64_t>(0, warmup_steps)), total_(std::max<int64_t>(1, total_steps)),
      min_ratio_(min_ratio) {}

double LrSchedule::at(int64_t step) const {
  if (step < warmup_) return peak_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
  const int64_t decay_steps = std::max<int64_t>(1, total_ - warmup_ - 1);
  const double progress = std::min(1.0, static_cast<double>(step - warmup_) / static_cast<double>(decay_steps));
  const double floor = peak_ * min_ratio_;
  return floor + 0.5 * (peak_ - floor) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace metaguard
