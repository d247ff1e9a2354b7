// A child process started by a test (loraplex-server, prometheus), with its
// stdout and stderr in a log file. The child is killed if the test process
// dies (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
#ifndef LORAPLEX_TESTS_DEPLOY_CHILD_PROCESS_H_
#define LORAPLEX_TESTS_DEPLOY_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace loraplex::deploy_test {

class ChildProcess {
 public:
  // Runs argv[0] (a path; PATH is not searched) with `argv`, appending its
  // output to `log_path`. NOT_FOUND when argv[0] is not an executable file;
  // INTERNAL when fork fails. A failing exec shows up as exit code 127.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);

  // Stops the child (as Stop(absl::Seconds(10))) if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Whether the child has not exited yet. Reaps it if it has.
  bool Running();

  // Sends SIGTERM, waits up to `grace`, then SIGKILLs. OK when the child
  // exited with code 0 (before or because of the SIGTERM);
  // FAILED_PRECONDITION naming the exit code or signal otherwise, and
  // DEADLINE_EXCEEDED when it had to be killed.
  absl::Status Stop(absl::Duration grace);

  // "exited with code N" / "killed by signal N" / "running".
  std::string Describe() const;
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  // Reaps the child without blocking (or blocking, when `block`).
  bool Reap(bool block);

  const pid_t pid_;
  const std::string log_path_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// The last `max_bytes` of a file, for failure messages ("" if unreadable).
std::string TailOfFile(const std::string& path, size_t max_bytes = 4000);

}  // namespace loraplex::deploy_test

#endif  // LORAPLEX_TESTS_DEPLOY_CHILD_PROCESS_H_
