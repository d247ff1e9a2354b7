#include "service/server/file_change_watcher.h"

#include <sys/stat.h>

#include <tuple>
#include <utility>

namespace loraplex::service {
namespace {

int64_t Nanoseconds(const timespec& time) {
  return static_cast<int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

}  // namespace

bool FileIdentity::operator==(const FileIdentity& other) const {
  return std::tie(device, inode, size, modified_ns, changed_ns) ==
         std::tie(other.device, other.inode, other.size, other.modified_ns,
                  other.changed_ns);
}

std::optional<FileIdentity> IdentityOf(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return std::nullopt;
  FileIdentity identity;
  identity.device = info.st_dev;
  identity.inode = info.st_ino;
  identity.size = info.st_size;
  identity.modified_ns = Nanoseconds(info.st_mtim);
  identity.changed_ns = Nanoseconds(info.st_ctim);
  return identity;
}

FileChangeWatcher::FileChangeWatcher(std::string path,
                                     std::optional<FileIdentity> initial,
                                     absl::Duration interval,
                                     std::function<void()> on_change)
    : path_(std::move(path)),
      initial_(initial),
      interval_(interval),
      on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { Run(); });
}

FileChangeWatcher::~FileChangeWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

bool FileChangeWatcher::WaitOneInterval() {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
  return !stopping_;
}

void FileChangeWatcher::Run() {
  // `reported`: what the owner has (been told about); `last`: the identity
  // at the previous check. A change is settled when it stayed the same
  // for one interval.
  std::optional<FileIdentity> reported = initial_;
  std::optional<FileIdentity> last = IdentityOf(path_);
  while (WaitOneInterval()) {
    const std::optional<FileIdentity> now = IdentityOf(path_);
    const bool settled = now == last;
    last = now;
    if (!settled || now == reported || !now.has_value()) continue;
    reported = now;
    on_change_();
  }
}

}  // namespace loraplex::service
