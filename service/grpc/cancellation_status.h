// What status a server records for a call its client ended (OnCancel).
#ifndef LORAPLEX_SERVICE_GRPC_CANCELLATION_STATUS_H_
#define LORAPLEX_SERVICE_GRPC_CANCELLATION_STATUS_H_

#include <chrono>

#include "absl/status/status.h"

namespace loraplex::service {

// A call whose deadline is this close counts as ended by its deadline. The
// server's deadline is the client's timeout counted from when the call
// arrived, so it falls after the client's own: the client ends the call
// first, and the server sees a cancellation up to the call's transit time
// (long on a busy machine) before its own deadline.
inline constexpr std::chrono::milliseconds kClientDeadlineAllowance{1000};

// DEADLINE_EXCEEDED when the call's `deadline` has passed or is within
// kClientDeadlineAllowance of `now`, CANCELLED otherwise.
inline absl::Status CancellationStatus(
    std::chrono::system_clock::time_point deadline,
    std::chrono::system_clock::time_point now) {
  if (deadline - now <= kClientDeadlineAllowance) {
    return absl::DeadlineExceededError("the deadline passed");
  }
  return absl::CancelledError("the client cancelled the call");
}

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_CANCELLATION_STATUS_H_
