#include "engine/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace loraplex::engine {

double LearningRateAt(const LrSchedule& schedule, int64_t step) {
  if (step < schedule.warmup_steps) {
    return schedule.peak_lr * static_cast<double>(step + 1) /
           static_cast<double>(schedule.warmup_steps);
  }
  const double min_lr = schedule.peak_lr * schedule.min_lr_ratio;
  const int64_t decay_steps =
      std::max<int64_t>(1, schedule.total_steps - schedule.warmup_steps - 1);
  const double t = std::clamp(
      static_cast<double>(step - schedule.warmup_steps) / decay_steps, 0.0,
      1.0);
  return min_lr +
         (schedule.peak_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace loraplex::engine
