// CancellationStatus: how a call its client ended is counted.
#include <chrono>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "service/grpc/cancellation_status.h"

namespace loraplex::service {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

TEST(CancellationStatusTest, PastTheDeadlineIsDeadlineExceeded) {
  const Clock::time_point now = Clock::now();
  EXPECT_EQ(CancellationStatus(now - milliseconds(5), now).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(CancellationStatus(now, now).code(),
            absl::StatusCode::kDeadlineExceeded);
}

// Issue 14: a client whose deadline passed was counted CANCELLED when its
// cancellation reached the server before the server's later deadline.
TEST(CancellationStatusTest,
     AClientsDeadlineBeforeTheServersIsDeadlineExceeded) {
  const Clock::time_point now = Clock::now();
  EXPECT_EQ(CancellationStatus(now + milliseconds(200), now).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(CancellationStatus(now + kClientDeadlineAllowance, now).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(CancellationStatusTest, FarFromTheDeadlineIsCancelled) {
  const Clock::time_point now = Clock::now();
  EXPECT_EQ(
      CancellationStatus(now + kClientDeadlineAllowance + milliseconds(1), now)
          .code(),
      absl::StatusCode::kCancelled);
  // No deadline: gRPC reports the largest time point.
  EXPECT_EQ(CancellationStatus(Clock::time_point::max(), now).code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace loraplex::service
