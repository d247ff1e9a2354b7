#include "tests/tools/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace loraplex::tools_testing {
namespace {

std::vector<std::string> ChildEnvironment(const EnvChanges& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (changes.count(name) == 0) env.push_back(entry);
  }
  for (const auto& [name, value] : changes) {
    if (value) env.push_back(absl::StrCat(name, "=", *value));
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for `pid` up to `timeout`; kills it with SIGKILL then. Returns the
// decoded status.
int WaitWithTimeout(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return DecodeWaitStatus(status);
}

// Starts argv with stdin from `stdin_fd` (or /dev/null when -1), stdout to
// `stdout_fd` and stderr to `stderr_fd`. Only async-signal-safe calls happen
// between fork and exec.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> argv,
                            const EnvChanges& env_changes, int stdin_fd,
                            int stdout_fd, int stderr_fd,
                            const std::vector<int>& close_in_child) {
  std::vector<std::string> env = ChildEnvironment(env_changes);
  std::vector<char*> argv_c = CStrings(argv);
  std::vector<char*> env_c = CStrings(env);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid < 0) {
    close(null_fd);
    return absl::FailedPreconditionError("fork failed");
  }
  if (pid == 0) {
    dup2(stdin_fd >= 0 ? stdin_fd : null_fd, STDIN_FILENO);
    dup2(stdout_fd, STDOUT_FILENO);
    dup2(stderr_fd, STDERR_FILENO);
    for (int fd : close_in_child) close(fd);
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  close(null_fd);
  return pid;
}

}  // namespace

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const EnvChanges& env,
                                         const std::string& input,
                                         absl::Duration timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::FailedPreconditionError("pipe failed");
  }
  absl::StatusOr<pid_t> pid =
      Spawn(argv, env, in_pipe[0], out_pipe[1], err_pipe[1], {});
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!pid.ok()) return pid.status();
  // Inputs in these tests are small: the pipe buffer takes them whole.
  if (!input.empty()) {
    (void)!write(in_pipe[1], input.data(), input.size());
  }
  close(in_pipe[1]);
  ProcessResult result;
  const absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left_ms)) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      const ssize_t got = read(fds[i].fd, buffer, sizeof(buffer));
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  result.exit_code = WaitWithTimeout(
      *pid, timed_out ? absl::ZeroDuration() : absl::Seconds(30));
  if (timed_out) {
    return absl::FailedPreconditionError(absl::StrCat(
        argv[0], " ran longer than ", absl::FormatDuration(timeout),
        "; stderr so far: ", result.err));
  }
  return result;
}

std::string CliBinary() {
  return absl::StrCat(LORAPLEX_BINARY_DIR, "/tools/cli/loraplex");
}
std::string ServerBinary() {
  return absl::StrCat(LORAPLEX_BINARY_DIR, "/service/server/loraplex-server");
}
std::string LoadgenBinary() {
  return absl::StrCat(LORAPLEX_BINARY_DIR, "/tools/loadgen/loraplex-loadgen");
}
std::string FixtureModelDir() {
  return absl::StrCat(LORAPLEX_TEST_DATA_DIR,
                      "/fixtures/hf-dev/llama-gqa/model");
}
std::string FixtureAdapterDir(const std::string& name) {
  return absl::StrCat(LORAPLEX_TEST_DATA_DIR,
                      "/fixtures/hf-dev/llama-gqa/adapters/", name);
}

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string pattern = absl::StrCat(base && *base ? base : "/tmp",
                                     "/loraplex-tools-test-XXXXXX");
  if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& extra_flags) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->registry_ = std::make_unique<TempDir>();
  std::vector<std::string> argv = {
      ServerBinary(),
      "--listen=127.0.0.1:0",
      "--metrics-listen=127.0.0.1:0",
      absl::StrCat("--model=", FixtureModelDir()),
      absl::StrCat("--registry-dir=", server->registry_->path(), "/registry"),
      "--device=cpu",
      "--threads=1",
      "--shutdown-grace=5s",
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::FailedPreconditionError("pipe failed");
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, {}, -1, err_pipe[1], err_pipe[1], {});
  close(err_pipe[1]);
  if (!pid.ok()) {
    close(err_pipe[0]);
    return pid.status();
  }
  server->pid_ = *pid;
  const int read_fd = err_pipe[0];
  ServerProcess* raw = server.get();
  server->reader_ = std::thread([raw, read_fd] { raw->DrainStderr(read_fd); });

  // "loraplex-server listening on 127.0.0.1:0 (port 41234); metrics on port
  // 40321 at /metrics" (service/server/server_app.cc).
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (absl::Now() < deadline) {
    const std::string log = server->log();
    const size_t at = log.find("listening on ");
    const size_t port_at = log.find("(port ", at);
    const size_t metrics_at = log.find("metrics on port ", at);
    const size_t line_end = log.find('\n', at);
    if (at != std::string::npos && line_end != std::string::npos &&
        port_at < line_end && metrics_at < line_end) {
      const std::string port = log.substr(port_at + 6);
      const std::string metrics = log.substr(metrics_at + 16);
      if (absl::SimpleAtoi(port.substr(0, port.find(')')), &server->port_) &&
          absl::SimpleAtoi(metrics.substr(0, metrics.find(' ')),
                           &server->metrics_port_)) {
        return server;
      }
      break;
    }
    int status = 0;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->exit_status_ = DecodeWaitStatus(status);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("loraplex-server did not start; its log:\n", server->log()));
}

void ServerProcess::DrainStderr(int fd) {
  char buffer[4096];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    absl::MutexLock lock(&mu_);
    log_.append(buffer, static_cast<size_t>(got));
  }
  close(fd);
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::string ServerProcess::metrics_url() const {
  return absl::StrCat("http://127.0.0.1:", metrics_port_, "/metrics");
}

std::string ServerProcess::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

int ServerProcess::Stop() {
  if (!exit_status_ && pid_ > 0) {
    kill(pid_, SIGTERM);
    exit_status_ = WaitWithTimeout(pid_, absl::Seconds(30));
  }
  if (reader_.joinable()) reader_.join();
  return exit_status_.value_or(-1);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
  if (reader_.joinable()) reader_.join();
}

}  // namespace loraplex::tools_testing
