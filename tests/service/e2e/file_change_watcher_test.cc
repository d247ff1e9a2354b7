// FileChangeWatcher: the API key file's reload trigger. Every wait here is
// for the watcher's callback (an event); the 60 s timeouts are safety nets.
#include "service/server/file_change_watcher.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace loraplex::service {
namespace {

constexpr absl::Duration kInterval = absl::Milliseconds(20);
constexpr absl::Duration kSafetyNet = absl::Seconds(60);

void Write(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::trunc);
  file << text;
}

// Counts the watcher's calls; lets the test wait for the n-th.
class Calls {
 public:
  std::function<void()> Callback() {
    return [this] {
      absl::MutexLock lock(&mu_);
      ++count_;
    };
  }
  bool AwaitCount(int n) {
    absl::MutexLock lock(&mu_);
    const auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return count_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kSafetyNet);
  }
  int count() {
    absl::MutexLock lock(&mu_);
    return count_;
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(FileIdentityTest, ChangesWhenTheFileIsRewrittenOrReplaced) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  EXPECT_FALSE(IdentityOf(path).has_value());
  Write(path, "one");
  const std::optional<FileIdentity> first = IdentityOf(path);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(IdentityOf(path), first);
  Write(path, "two");  // Same size, rewritten in place.
  const std::optional<FileIdentity> second = IdentityOf(path);
  EXPECT_NE(second, first);
  Write(dir.Join("other"), "two");
  ASSERT_EQ(std::rename(dir.Join("other").c_str(), path.c_str()), 0);
  EXPECT_NE(IdentityOf(path), second);  // Another inode.
}

TEST(FileChangeWatcherTest, ReportsEachChangeOnce) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  Write(path, "v1");
  Calls calls;
  FileChangeWatcher watcher(path, IdentityOf(path), kInterval,
                            calls.Callback());
  Write(dir.Join("next"), "v2 is longer");
  ASSERT_EQ(std::rename(dir.Join("next").c_str(), path.c_str()), 0);
  ASSERT_TRUE(calls.AwaitCount(1));
  Write(path, "v3");
  ASSERT_TRUE(calls.AwaitCount(2));
  EXPECT_EQ(calls.count(), 2);
}

TEST(FileChangeWatcherTest, AChangeDuringTheOwnersReadIsReported) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  Write(path, "read by the owner");
  const std::optional<FileIdentity> read_with = IdentityOf(path);
  Write(path, "changed while the owner was reading");
  Calls calls;
  FileChangeWatcher watcher(path, read_with, kInterval, calls.Callback());
  EXPECT_TRUE(calls.AwaitCount(1));
}

TEST(FileChangeWatcherTest, AFileThatAppearsIsReported) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  Calls calls;
  FileChangeWatcher watcher(path, IdentityOf(path), kInterval,
                            calls.Callback());
  Write(path, "now it exists");
  EXPECT_TRUE(calls.AwaitCount(1));
}

}  // namespace
}  // namespace loraplex::service
