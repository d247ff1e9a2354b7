// The one child-process helper of the tests: runs an executable with its
// stdout and stderr captured and its exit observed through a pidfd, by a
// thread of this object, so that every wait below ends on an event (output
// arrived, the child exited); their timeouts are safety nets only. The
// child is killed if the test process dies (PR_SET_PDEATHSIG), so a crashed
// test leaves no server behind.
#ifndef LORAPLEX_TESTS_SUPPORT_CHILD_PROCESS_H_
#define LORAPLEX_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace loraplex::testing {

// Environment changes for a child: a value sets the variable, nullopt
// removes it. Everything else is inherited.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

struct ChildOptions {
  EnvChanges env;
  // The child's standard input, then end of file (/dev/null when empty).
  // At most 64 KiB (it is written into the pipe before the child starts).
  std::string input;
};

class ChildProcess {
 public:
  // Runs argv[0] (a path; PATH is not searched) with `argv`. NOT_FOUND
  // when argv[0] is not an executable file; INVALID_ARGUMENT for too much
  // input; INTERNAL when a pipe, pidfd or fork fails. A failing exec shows
  // up as exit code 127.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const ChildOptions& options = {});

  // SIGKILLs the child if it still runs, reaps it, joins the watcher.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // What the child wrote so far.
  std::string out() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string err() const ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until `done(out, err)` holds (true), or the child has exited
  // without it holding, or `timeout` passed (false). `done` runs under this
  // object's lock: it must only look at its arguments.
  bool WaitForOutput(const std::function<bool(const std::string& out,
                                              const std::string& err)>& done,
                     absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  // WaitForOutput until `text` appears on stdout or stderr.
  bool WaitForText(std::string_view text, absl::Duration timeout);

  // Blocks until the child exits; its exit code (128 + the signal number
  // when a signal killed it), or nullopt when `timeout` passed first.
  std::optional<int> WaitForExit(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool Running() const ABSL_LOCKS_EXCLUDED(mu_);

  // Sends `signal_number` if the child still runs.
  void Signal(int signal_number);
  // SIGTERM, then up to `grace` for the child to exit, then SIGKILL.
  // Returns the exit code as WaitForExit.
  int Stop(absl::Duration grace);
  // Whether the last Stop had to SIGKILL.
  bool was_killed() const ABSL_LOCKS_EXCLUDED(mu_);

  // "running", "exited with code N" or "killed by signal N".
  std::string Describe() const ABSL_LOCKS_EXCLUDED(mu_);
  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, int pidfd, int out_fd, int err_fd);
  // The watcher thread: reads both pipes until the child exits, then
  // reaps it.
  void Watch() ABSL_LOCKS_EXCLUDED(mu_);
  bool ExitedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return wait_status_.has_value();
  }

  const pid_t pid_;
  const int pidfd_;
  const int out_fd_;
  const int err_fd_;
  mutable absl::Mutex mu_;
  std::string out_ ABSL_GUARDED_BY(mu_);
  std::string err_ ABSL_GUARDED_BY(mu_);
  std::optional<int> wait_status_ ABSL_GUARDED_BY(mu_);  // From waitpid.
  bool killed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watcher_;
};

struct ProcessResult {
  int exit_code = -1;  // 128 + the signal number when killed by a signal.
  std::string out;
  std::string err;
};

// Runs argv to completion and returns what it wrote. FAILED_PRECONDITION
// (with its stderr so far) when it ran longer than `timeout` (then it is
// killed); Start's errors otherwise.
absl::StatusOr<ProcessResult> RunProcess(
    const std::vector<std::string>& argv, const ChildOptions& options = {},
    absl::Duration timeout = absl::Seconds(120));

}  // namespace loraplex::testing

#endif  // LORAPLEX_TESTS_SUPPORT_CHILD_PROCESS_H_
