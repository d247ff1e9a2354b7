// What the load generator measured about one request. Plain data, filled by
// the call's reactor and read after the run.
#ifndef LORAPLEX_TOOLS_LOADGEN_REQUEST_RECORD_H_
#define LORAPLEX_TOOLS_LOADGEN_REQUEST_RECORD_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace loraplex::loadgen {

using Clock = std::chrono::steady_clock;

struct RequestRecord {
  int32_t adapter_index = -1;     // Into the run's adapter list; -1 = base.
  int32_t prompt_tokens = 0;      // As sent.
  int32_t max_new_tokens = 0;     // As asked.
  Clock::time_point start;        // The call was started.
  Clock::time_point first_token;  // First chunk with a token arrived.
  Clock::time_point last_token;   // Last chunk with a token arrived.
  Clock::time_point end;          // The call's final status arrived.
  int32_t output_tokens = 0;      // Token ids received.
  bool finished = false;          // A GenerateFinished message arrived.
  absl::StatusCode code = absl::StatusCode::kUnknown;
  std::string error_message;  // Empty when code is kOk.
};

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_REQUEST_RECORD_H_
