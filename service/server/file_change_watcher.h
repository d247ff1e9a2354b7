// Notices when a file is replaced or rewritten, for reloading the API key
// file (--api-keys) without a restart. Polls the file's identity with
// stat(2) (device, inode, size, modification and change times, to the
// nanosecond) every `interval`: simple, and it works for every way a file
// is updated (in place, renamed over, through a Kubernetes Secret's
// symlink swap), where inotify needs a different watch for each.
//
// A change is reported once the file has stopped changing for one whole
// interval, so that a file being written is not read half-written.
#ifndef LORAPLEX_SERVICE_SERVER_FILE_CHANGE_WATCHER_H_
#define LORAPLEX_SERVICE_SERVER_FILE_CHANGE_WATCHER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace loraplex::service {

// What stat(2) says about a file; two differ when the file was changed.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t modified_ns = 0;
  int64_t changed_ns = 0;  // ctime: also moves on rename and chmod.
  bool operator==(const FileIdentity& other) const;
  bool operator!=(const FileIdentity& other) const { return !(*this == other); }
};

// The identity of `path` (following symlinks); nullopt when it cannot be
// stat'ed (missing, no permission).
std::optional<FileIdentity> IdentityOf(const std::string& path);

class FileChangeWatcher {
 public:
  // Starts a thread that checks `path` every `interval` and calls
  // `on_change` (on that thread) after each settled change from `initial`,
  // the identity the owner's copy was read with (IdentityOf before the
  // read, so a change during the read is reported). A missing file is a
  // state like any other: its disappearance is not reported, its return is.
  FileChangeWatcher(std::string path, std::optional<FileIdentity> initial,
                    absl::Duration interval, std::function<void()> on_change);
  // Stops and joins the thread (waits for a running on_change).
  ~FileChangeWatcher() ABSL_LOCKS_EXCLUDED(mu_);

  FileChangeWatcher(const FileChangeWatcher&) = delete;
  FileChangeWatcher& operator=(const FileChangeWatcher&) = delete;

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits one interval; false once stopping.
  bool WaitOneInterval() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  const std::optional<FileIdentity> initial_;
  const absl::Duration interval_;
  const std::function<void()> on_change_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: started once the rest is set.
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_FILE_CHANGE_WATCHER_H_
