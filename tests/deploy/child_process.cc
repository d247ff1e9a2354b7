#include "tests/deploy/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace loraplex::deploy_test {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty() || access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "not an executable: ", argv.empty() ? "(no argv)" : argv[0]));
  }
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // The parent died before prctl.
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) _exit(125);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (!reaped_) Stop(absl::Seconds(10)).IgnoreError();
}

bool ChildProcess::Reap(bool block) {
  if (reaped_) return true;
  int status = 0;
  const pid_t result = waitpid(pid_, &status, block ? 0 : WNOHANG);
  if (result == pid_) {
    reaped_ = true;
    wait_status_ = status;
  }
  return reaped_;
}

bool ChildProcess::Running() { return !Reap(/*block=*/false); }

absl::Status ChildProcess::Stop(absl::Duration grace) {
  bool killed = false;
  if (!Reap(/*block=*/false)) {
    kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + grace;
    while (!Reap(/*block=*/false) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (!reaped_) {
      kill(pid_, SIGKILL);
      Reap(/*block=*/true);
      killed = true;
    }
  }
  if (killed) {
    return absl::DeadlineExceededError(absl::StrCat(
        "pid ", pid_, " ignored SIGTERM for ", absl::FormatDuration(grace)));
  }
  if (WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("pid ", pid_, " ", Describe()));
}

std::string ChildProcess::Describe() const {
  if (!reaped_) return "running";
  if (WIFEXITED(wait_status_)) {
    return absl::StrCat("exited with code ", WEXITSTATUS(wait_status_));
  }
  if (WIFSIGNALED(wait_status_)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status_));
  }
  return "stopped";
}

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  return text.size() <= max_bytes ? text : text.substr(text.size() - max_bytes);
}

}  // namespace loraplex::deploy_test
