#include "engine/train/training_progress.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_format.h"

namespace loraplex::engine {

TrainingProgress::TrainingProgress(const ProgressOptions& options,
                                   std::string label, int64_t first_step,
                                   int64_t total_steps)
    : options_(options),
      label_(std::move(label)),
      is_terminal_(options.out != nullptr && isatty(fileno(options.out))),
      first_step_(first_step),
      total_steps_(total_steps),
      start_(absl::Now()) {}

std::string TrainingProgress::FormatDuration(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(d);
  if (s >= 3600) {
    return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  }
  return absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

double TrainingProgress::tokens_per_second() const {
  const double seconds = absl::ToDoubleSeconds(elapsed());
  return seconds > 0 ? static_cast<double>(tokens_) / seconds : 0.0;
}

void TrainingProgress::OnStep(int64_t step, double loss, double lr,
                              int64_t tokens) {
  tokens_ += tokens;
  smoothed_loss_ =
      smoothed_loss_ < 0 ? loss : 0.9 * smoothed_loss_ + 0.1 * loss;
  if (options_.quiet || options_.out == nullptr) return;
  const int64_t done = step + 1;
  const bool last = done == total_steps_;
  if (!is_terminal_ && !last && done % options_.log_every != 0) return;
  const int64_t session_steps = done - first_step_;
  const absl::Duration per_step =
      elapsed() / std::max<int64_t>(1, session_steps);
  const std::string line = absl::StrFormat(
      "%s step %d/%d  loss %.4f (avg %.4f)  lr %.2e  %.0f tok/s  "
      "elapsed %s  eta %s",
      label_, done, total_steps_, loss, smoothed_loss_, lr, tokens_per_second(),
      FormatDuration(elapsed()),
      FormatDuration(per_step * (total_steps_ - done)));
  if (is_terminal_) {
    absl::FPrintF(options_.out, "\r\033[K%s", line);
    line_open_ = !last;
    if (last) absl::FPrintF(options_.out, "\n");
  } else {
    absl::FPrintF(options_.out, "%s\n", line);
  }
  std::fflush(options_.out);
}

void TrainingProgress::Note(const std::string& message) {
  if (options_.quiet || options_.out == nullptr) return;
  if (line_open_) absl::FPrintF(options_.out, "\n");
  line_open_ = false;
  absl::FPrintF(options_.out, "%s %s\n", label_, message);
  std::fflush(options_.out);
}

}  // namespace loraplex::engine
