// Checks that the ThreadSanitizer build means something: a plain data race is
// reported, and code guarded by absl::Mutex -- ours directly, and gRPC's
// gpr_mu, an absl::Mutex locked from inside libgpr.so -- is not. The latter
// holds only if every caller binds to the instrumented Abseil linked into the
// executable (scripts/build-tsan-absl.sh, cmake/LoraplexTsan.cmake) and not
// to Debian's uninstrumented libabsl_*.so; otherwise every lock-guarded
// access in the other TSan tests would be reported as a race.
//
// Each case runs in a child process (a death test, "threadsafe" style: the
// binary is re-executed), which finishes with std::exit(0): TSan turns that
// into exit code 66 when it reported anything.

#include <cstdlib>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "grpc/support/sync.h"
#include "gtest/gtest.h"

namespace {

constexpr int kTsanReportExitCode = 66;  // TSAN_OPTIONS exitcode's default
constexpr char kRaceReport[] = "ThreadSanitizer: data race";

// Two threads increment one shared counter many times, the first with
// `first_increment`, the second with `second_increment`; then the process
// exits normally.
[[noreturn]] void IncrementFromTwoThreadsAndExit(
    const std::function<void(int*)>& first_increment,
    const std::function<void(int*)>& second_increment) {
  int counter = 0;
  auto work = [&counter](const std::function<void(int*)>& increment) {
    for (int i = 0; i < 1000; ++i) increment(&counter);
  };
  std::thread first(work, first_increment);
  std::thread second(work, second_increment);
  first.join();
  second.join();
  std::exit(counter == 2000 ? 0 : 1);
}

[[noreturn]] void IncrementFromTwoThreadsAndExit(
    const std::function<void(int*)>& increment) {
  IncrementFromTwoThreadsAndExit(increment, increment);
}

class TsanSelfTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(TsanSelfTest, UnguardedCounterIsReported) {
  EXPECT_EXIT(IncrementFromTwoThreadsAndExit([](int* counter) { ++*counter; }),
              ::testing::ExitedWithCode(kTsanReportExitCode), kRaceReport);
}

TEST_F(TsanSelfTest, AbslMutexGuardedCounterIsNotReported) {
  absl::Mutex mu;
  EXPECT_EXIT(IncrementFromTwoThreadsAndExit([&mu](int* counter) {
                absl::MutexLock lock(&mu);
                ++*counter;
              }),
              ::testing::ExitedWithCode(0), "");
}

// A lock only one side takes orders nothing: still a race.
TEST_F(TsanSelfTest, AbslMutexTakenByOneSideOnlyIsReported) {
  absl::Mutex mu;
  EXPECT_EXIT(IncrementFromTwoThreadsAndExit(
                  [&mu](int* counter) {
                    absl::MutexLock lock(&mu);
                    ++*counter;
                  },
                  [](int* counter) { ++*counter; }),
              ::testing::ExitedWithCode(kTsanReportExitCode), kRaceReport);
}

// gpr_mu_lock/unlock are compiled into libgpr.so and call absl::Mutex from
// there: no report only if those calls reach the instrumented Abseil.
TEST_F(TsanSelfTest, GrpcLockGuardedCounterIsNotReported) {
  gpr_mu mu;
  gpr_mu_init(&mu);
  EXPECT_EXIT(IncrementFromTwoThreadsAndExit([&mu](int* counter) {
                gpr_mu_lock(&mu);
                ++*counter;
                gpr_mu_unlock(&mu);
              }),
              ::testing::ExitedWithCode(0), "");
  gpr_mu_destroy(&mu);
}

}  // namespace
