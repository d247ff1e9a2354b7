// The upload progress bar: bytes sent, total and rate on one terminal line
// that redraws in place.
#ifndef LORAPLEX_TOOLS_CLI_PROGRESS_BAR_H_
#define LORAPLEX_TOOLS_CLI_PROGRESS_BAR_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/time/time.h"

namespace loraplex::cli {

// "[##########----------]  1.2 MiB / 2.4 MiB  3.1 MiB/s" (width 20 bar);
// the rate is left out while `elapsed` is zero.
std::string FormatProgress(uint64_t done_bytes, uint64_t total_bytes,
                           absl::Duration elapsed);

// Draws FormatProgress on `out` with a leading carriage return, at most
// every 100 ms (and always for the last update); Finish() ends the line.
// Not thread-safe: one caller thread.
class ProgressBar {
 public:
  explicit ProgressBar(std::ostream& out);
  void Update(uint64_t done_bytes, uint64_t total_bytes);
  void Finish();

 private:
  std::ostream& out_;
  absl::Time start_;
  absl::Time last_draw_ = absl::InfinitePast();
  bool drawn_ = false;
};

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_PROGRESS_BAR_H_
