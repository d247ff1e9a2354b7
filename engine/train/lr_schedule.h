// Learning-rate schedule: linear warm-up, then cosine decay to a floor.
#ifndef LORAPLEX_ENGINE_TRAIN_LR_SCHEDULE_H_
#define LORAPLEX_ENGINE_TRAIN_LR_SCHEDULE_H_

#include <cstdint>

namespace loraplex::engine {

struct LrSchedule {
  double peak_lr = 1e-3;
  int64_t warmup_steps = 0;   // lr rises linearly to peak_lr over these.
  int64_t total_steps = 1;    // Cosine reaches min_lr at the last step.
  double min_lr_ratio = 0.1;  // Floor, as a fraction of peak_lr.
};

// The rate for optimizer step `step` (0-based): peak * (step + 1) / warmup
// during warm-up, then min + (peak - min) * (1 + cos(pi * t)) / 2 with t
// going from 0 to 1 over the remaining steps.
double LearningRateAt(const LrSchedule& schedule, int64_t step);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_LR_SCHEDULE_H_
