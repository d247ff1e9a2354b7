#include "service/grpc/fd_limits.h"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"

namespace loraplex::service {
namespace {

uint64_t FromRlim(rlim_t value) {
  return value == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max()
                                : static_cast<uint64_t>(value);
}

std::string LimitText(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited")
                                : absl::StrCat(value);
}

}  // namespace

absl::StatusOr<FdLimits> RaiseFileDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::ErrnoToStatus(errno, "getrlimit(RLIMIT_NOFILE)");
  }
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur != limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    } else {
      LogWarning(
          "file descriptors: cannot raise the soft limit %s to the "
          "hard limit %s: %s",
          LimitText(limit.rlim_cur), LimitText(limit.rlim_max),
          std::strerror(errno));
    }
  }
  LogInfo("file descriptors: soft limit %s (was %s), hard limit %s",
          LimitText(limit.rlim_cur), LimitText(before),
          LimitText(limit.rlim_max));
  return FdLimits{FromRlim(limit.rlim_cur), FromRlim(limit.rlim_max)};
}

absl::StatusOr<int64_t> CountOpenFileDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot list /proc/self/fd: ", std::strerror(errno)));
  }
  int64_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // The directory stream's own descriptor.
}

int64_t FdReserve(uint64_t soft_limit) {
  const uint64_t eighth = soft_limit / 8;
  return static_cast<int64_t>(std::clamp<uint64_t>(eighth, 64, 1024));
}

int64_t ConnectionFdCeiling(uint64_t soft_limit) {
  if (soft_limit >=
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return 0;
  }
  return std::max<int64_t>(
      1, static_cast<int64_t>(soft_limit) - FdReserve(soft_limit));
}

}  // namespace loraplex::service
