// Progress lines for a training run: step, loss, learning rate, tokens/s
// and ETA. On a terminal one line is rewritten in place every step; into a
// file or pipe a full line is written every `log_every` steps (and at the
// last step), so logs stay readable.
#ifndef LORAPLEX_ENGINE_TRAIN_TRAINING_PROGRESS_H_
#define LORAPLEX_ENGINE_TRAIN_TRAINING_PROGRESS_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace loraplex::engine {

struct ProgressOptions {
  int64_t log_every = 10;   // Steps between lines when not on a terminal.
  bool quiet = false;       // Print nothing (tests).
  std::FILE* out = stderr;  // Where lines go.
};

// Not thread-safe; one per training run.
class TrainingProgress {
 public:
  // `first_step` > 0 when a run resumes; rates count only this session's
  // steps.
  TrainingProgress(const ProgressOptions& options, std::string label,
                   int64_t first_step, int64_t total_steps);

  // After optimizer step `step` (0-based) that processed `tokens` tokens.
  void OnStep(int64_t step, double loss, double lr, int64_t tokens);
  // A line that is not a step (evaluation, checkpoint), printed in order.
  void Note(const std::string& message);

  double tokens_per_second() const;
  absl::Duration elapsed() const { return absl::Now() - start_; }

 private:
  static std::string FormatDuration(absl::Duration d);

  ProgressOptions options_;
  std::string label_;
  bool is_terminal_ = false;
  bool line_open_ = false;  // A rewritten line is on screen without '\n'.
  int64_t first_step_;
  int64_t total_steps_;
  int64_t tokens_ = 0;
  double smoothed_loss_ = -1;  // Exponential moving average.
  absl::Time start_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_TRAINING_PROGRESS_H_
