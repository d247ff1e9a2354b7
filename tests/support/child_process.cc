#include "tests/support/child_process.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace loraplex::testing {
namespace {

constexpr size_t kMaxInputBytes = 64 * 1024;  // Linux's default pipe size.

std::vector<std::string> ChildEnvironment(const EnvChanges& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (changes.count(entry.substr(0, entry.find('='))) == 0) {
      env.push_back(entry);
    }
  }
  for (const auto& [name, value] : changes) {
    if (value.has_value()) env.push_back(absl::StrCat(name, "=", *value));
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Closes the descriptors it holds unless released.
class FdSet {
 public:
  ~FdSet() {
    for (int fd : fds_) close(fd);
  }
  int Add(int fd) {
    fds_.push_back(fd);
    return fd;
  }
  void Release(int fd) { fds_.erase(std::find(fds_.begin(), fds_.end(), fd)); }

 private:
  std::vector<int> fds_;
};

// Appends what can be read from `fd` now to `sink`; false at end of file
// or on an error.
bool ReadAvailable(int fd, std::string& sink) {
  char buffer[8192];
  while (true) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got > 0) {
      sink.append(buffer, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    return got < 0 && errno == EAGAIN;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty() || access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "not an executable: ", argv.empty() ? "(no argv)" : argv[0]));
  }
  if (options.input.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError("more than 64 KiB of input");
  }
  FdSet fds;
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe");
  fds.Add(in_pipe[0]);
  fds.Add(in_pipe[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe");
  fds.Add(out_pipe[0]);
  fds.Add(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe");
  fds.Add(err_pipe[0]);
  fds.Add(err_pipe[1]);
  // Written before the child exists: the pipe holds it, and no write can
  // meet a reader that has gone (SIGPIPE).
  if (!options.input.empty() &&
      write(in_pipe[1], options.input.data(), options.input.size()) !=
          static_cast<ssize_t>(options.input.size())) {
    return ErrnoError("writing the child's input");
  }
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<std::string> args = argv;
  std::vector<std::string> env = ChildEnvironment(options.env);
  std::vector<char*> args_c = CStrings(args);
  std::vector<char*> env_c = CStrings(env);
  const int stdin_fd = options.input.empty()
                           ? fds.Add(open("/dev/null", O_RDONLY | O_CLOEXEC))
                           : in_pipe[0];
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // The test died before prctl.
    dup2(stdin_fd, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    // Nothing else of the test process (its sockets, say) leaks into it.
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execve(args_c[0], args_c.data(), env_c.data());
    _exit(127);
  }
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const absl::Status error = ErrnoError("pidfd_open");
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return error;
  }
  for (int fd : {out_pipe[0], err_pipe[0]}) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fds.Release(fd);
  }
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(pid, pidfd, out_pipe[0], err_pipe[0]));
}

ChildProcess::ChildProcess(pid_t pid, int pidfd, int out_fd, int err_fd)
    : pid_(pid), pidfd_(pidfd), out_fd_(out_fd), err_fd_(err_fd) {
  watcher_ = std::thread([this] { Watch(); });
}

ChildProcess::~ChildProcess() {
  Signal(SIGKILL);
  watcher_.join();
  close(pidfd_);
  close(out_fd_);
  close(err_fd_);
}

void ChildProcess::Watch() {
  pollfd fds[3] = {
      {out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
  std::string out_chunk, err_chunk;
  bool exited = false;
  while (!exited) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      fds[2].revents = POLLIN;  // Cannot watch: wait for the exit below.
    }
    exited = fds[2].revents != 0;
    // After the exit, read what the child wrote before it, then stop
    // (a grandchild could keep the pipes open forever).
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents != 0 || exited)) {
        if (!ReadAvailable(fds[i].fd, i == 0 ? out_chunk : err_chunk)) {
          fds[i].fd = -1;  // End of file: poll ignores it from now on.
        }
      }
    }
    int status = 0;
    if (exited) waitpid(pid_, &status, 0);
    absl::MutexLock lock(&mu_);
    out_ += out_chunk;
    err_ += err_chunk;
    out_chunk.clear();
    err_chunk.clear();
    if (exited) wait_status_ = status;
  }
}

std::string ChildProcess::out() const {
  absl::MutexLock lock(&mu_);
  return out_;
}

std::string ChildProcess::err() const {
  absl::MutexLock lock(&mu_);
  return err_;
}

bool ChildProcess::WaitForOutput(
    const std::function<bool(const std::string&, const std::string&)>& done,
    absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto done_or_exited = [this, &done]()
                                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                    return done(out_, err_) || ExitedLocked();
                                  };
  mu_.AwaitWithTimeout(absl::Condition(&done_or_exited), timeout);
  return done(out_, err_);
}

bool ChildProcess::WaitForText(std::string_view text, absl::Duration timeout) {
  return WaitForOutput(
      [text](const std::string& out, const std::string& err) {
        return out.find(text) != std::string::npos ||
               err.find(text) != std::string::npos;
      },
      timeout);
}

std::optional<int> ChildProcess::WaitForExit(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(this, &ChildProcess::ExitedLocked),
                            timeout)) {
    return std::nullopt;
  }
  return ExitCode(*wait_status_);
}

bool ChildProcess::Running() const {
  absl::MutexLock lock(&mu_);
  return !ExitedLocked();
}

void ChildProcess::Signal(int signal_number) {
  // Through the pidfd: never reaches another process that reused the pid.
  syscall(SYS_pidfd_send_signal, pidfd_, signal_number, nullptr, 0u);
}

int ChildProcess::Stop(absl::Duration grace) {
  Signal(SIGTERM);
  if (std::optional<int> code = WaitForExit(grace)) return *code;
  {
    absl::MutexLock lock(&mu_);
    killed_ = true;
  }
  Signal(SIGKILL);
  return *WaitForExit(absl::InfiniteDuration());
}

bool ChildProcess::was_killed() const {
  absl::MutexLock lock(&mu_);
  return killed_;
}

std::string ChildProcess::Describe() const {
  absl::MutexLock lock(&mu_);
  if (!ExitedLocked()) return "running";
  if (WIFSIGNALED(*wait_status_)) {
    return absl::StrCat("killed by signal ", WTERMSIG(*wait_status_));
  }
  return absl::StrCat("exited with code ", ExitCode(*wait_status_));
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ChildOptions& options,
                                         absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start(argv, options);
  if (!child.ok()) return child.status();
  std::optional<int> code = (*child)->WaitForExit(timeout);
  if (!code.has_value()) {
    (*child)->Signal(SIGKILL);
    (*child)->WaitForExit(absl::InfiniteDuration());
    return absl::FailedPreconditionError(absl::StrCat(
        argv[0], " ran longer than ", absl::FormatDuration(timeout),
        "; stderr so far: ", (*child)->err()));
  }
  return ProcessResult{*code, (*child)->out(), (*child)->err()};
}

}  // namespace loraplex::testing
