// BlockingExecutor (Note [No RPC kind starves another] in
// service/grpc/blocking_executor.h): one key's slow work holds at most one
// thread, keys take turns, and a full queue is RESOURCE_EXHAUSTED at once.
// The slow work is a task blocked on a notification, so nothing depends on
// timing: a test that hangs here would be a bug (the ctest timeout ends it).
#include "service/grpc/blocking_executor.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loraplex::service {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records the order tasks ran in.
class Journal {
 public:
  void Add(const std::string& entry) {
    absl::MutexLock lock(&mu_);
    entries_.push_back(entry);
  }
  std::vector<std::string> entries() {
    absl::MutexLock lock(&mu_);
    return entries_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> entries_ ABSL_GUARDED_BY(mu_);
};

TEST(BlockingExecutorTest, OneKeysSlowTaskDoesNotDelayOtherKeys) {
  // Declared before the executor, whose destructor runs what is still queued
  // (and waits for what is running): the tasks use them until then.
  absl::Notification slow_started, release_slow, other_done;
  std::atomic<bool> a_second_ran{false};
  BlockingExecutor executor({"test", /*num_threads=*/2, /*max_queued=*/16});
  ASSERT_TRUE(executor
                  .TrySchedule("tenant-a",
                               [&] {
                                 slow_started.Notify();
                                 release_slow.WaitForNotification();
                               })
                  .ok());
  slow_started.WaitForNotification();
  // tenant-a queues more work: it waits for tenant-a's running task (one
  // thread per key), so the second thread stays free for tenant-b.
  ASSERT_TRUE(
      executor.TrySchedule("tenant-a", [&] { a_second_ran = true; }).ok());
  ASSERT_TRUE(
      executor.TrySchedule("tenant-b", [&] { other_done.Notify(); }).ok());
  other_done.WaitForNotification();  // Ran while tenant-a's task blocks.
  EXPECT_FALSE(a_second_ran.load());
  release_slow.Notify();
}

TEST(BlockingExecutorTest, KeysTakeTurnsAndEachKeysTasksRunInOrder) {
  BlockingExecutor executor({"test", /*num_threads=*/1, /*max_queued=*/16});
  absl::Notification started, release;
  ASSERT_TRUE(executor
                  .TrySchedule("gate",
                               [&] {
                                 started.Notify();
                                 release.WaitForNotification();
                               })
                  .ok());
  started.WaitForNotification();
  Journal journal;
  absl::BlockingCounter all_ran(6);
  const auto schedule = [&](const std::string& key, const std::string& entry) {
    ASSERT_TRUE(executor
                    .TrySchedule(key,
                                 [&, entry] {
                                   journal.Add(entry);
                                   all_ran.DecrementCount();
                                 })
                    .ok());
  };
  schedule("a", "a1");
  schedule("a", "a2");
  schedule("a", "a3");
  schedule("b", "b1");
  schedule("b", "b2");
  schedule("c", "c1");
  release.Notify();
  all_ran.Wait();
  // Round robin over the keys with work; each key's tasks in order.
  EXPECT_THAT(journal.entries(),
              ElementsAre("a1", "b1", "c1", "a2", "b2", "a3"));
}

TEST(BlockingExecutorTest, AFullQueueIsResourceExhaustedAndTheTaskDropped) {
  // Declared before the executor: its tasks use them until it is destroyed.
  absl::Notification started, release;
  std::atomic<int> ran{0};
  BlockingExecutor executor({"upload commit", /*num_threads=*/1,
                             /*max_queued=*/2});
  ASSERT_TRUE(executor
                  .TrySchedule("a",
                               [&] {
                                 started.Notify();
                                 release.WaitForNotification();
                               })
                  .ok());
  started.WaitForNotification();
  EXPECT_TRUE(executor.TrySchedule("a", [&] { ++ran; }).ok());
  EXPECT_TRUE(executor.TrySchedule("b", [&] { ++ran; }).ok());
  EXPECT_EQ(executor.queued(), 2);
  const absl::Status full = executor.TrySchedule("c", [&] { ran += 100; });
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("upload commit queue is full"));
  release.Notify();
}

TEST(BlockingExecutorTest, DestructionRunsEverythingQueued) {
  std::atomic<int> ran{0};
  {
    BlockingExecutor executor({"test", /*num_threads=*/2, /*max_queued=*/64});
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(
          executor.TrySchedule(std::to_string(i % 3), [&] { ++ran; }).ok());
    }
  }
  EXPECT_EQ(ran.load(), 40);
}

}  // namespace
}  // namespace loraplex::service
