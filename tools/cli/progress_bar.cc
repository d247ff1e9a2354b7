#include "tools/cli/progress_bar.h"

#include <algorithm>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/cli/adapter_printing.h"

namespace loraplex::cli {

std::string FormatProgress(uint64_t done_bytes, uint64_t total_bytes,
                           absl::Duration elapsed) {
  constexpr int kWidth = 20;
  const double fraction =
      total_bytes == 0 ? 1.0
                       : std::min(1.0, static_cast<double>(done_bytes) /
                                           static_cast<double>(total_bytes));
  const int filled = static_cast<int>(fraction * kWidth);
  std::string text = absl::StrCat(
      "[", std::string(filled, '#'), std::string(kWidth - filled, '-'), "]  ",
      HumanBytes(done_bytes), " / ", HumanBytes(total_bytes));
  const double seconds = absl::ToDoubleSeconds(elapsed);
  if (seconds > 0) {
    absl::StrAppend(&text, "  ",
                    HumanBytes(static_cast<uint64_t>(
                        static_cast<double>(done_bytes) / seconds)),
                    "/s");
  }
  return text;
}

ProgressBar::ProgressBar(std::ostream& out) : out_(out), start_(absl::Now()) {}

void ProgressBar::Update(uint64_t done_bytes, uint64_t total_bytes) {
  const absl::Time now = absl::Now();
  if (done_bytes < total_bytes && now - last_draw_ < absl::Milliseconds(100)) {
    return;
  }
  last_draw_ = now;
  drawn_ = true;
  // Trailing spaces wipe what a longer previous line left behind.
  out_ << "\r" << FormatProgress(done_bytes, total_bytes, now - start_)
       << "    " << std::flush;
}

void ProgressBar::Finish() {
  if (drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace loraplex::cli
