// Test helpers that run the built binaries as real processes: a one-shot
// command with its output captured, and a loraplex-server on loopback with
// ephemeral ports and a temporary registry.
#ifndef LORAPLEX_TESTS_TOOLS_SUBPROCESS_H_
#define LORAPLEX_TESTS_TOOLS_SUBPROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace loraplex::tools_testing {

// Environment changes for a child: a value sets the variable, nullopt
// removes it. Everything else is inherited.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

struct ProcessResult {
  int exit_code = -1;  // 128 + signal number if killed by a signal.
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with `input` on its standard input; waits for it to
// exit, killing it after `timeout`. FAILED_PRECONDITION if it cannot start
// or ran out of time.
absl::StatusOr<ProcessResult> RunProcess(
    const std::vector<std::string>& argv, const EnvChanges& env = {},
    const std::string& input = "", absl::Duration timeout = absl::Seconds(120));

// Paths of the built executables (LORAPLEX_BINARY_DIR).
std::string CliBinary();
std::string ServerBinary();
std::string LoadgenBinary();
// tests/data/fixtures/hf-dev/llama-gqa/...
std::string FixtureModelDir();
std::string FixtureAdapterDir(const std::string& name);

// A fresh directory, removed (recursively) with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loraplex-server child on 127.0.0.1 with gRPC and metrics on ports the
// kernel picked (read back from its start-up line), serving the fixture
// model from a registry in a temporary directory. The destructor sends
// SIGTERM and waits (SIGKILL after 30 s).
class ServerProcess {
 public:
  // `extra_flags` are appended to the defaults (e.g. "--api-keys=FILE").
  // Waits up to 120 s for the start-up line.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra_flags = {});
  ~ServerProcess();

  std::string address() const;      // "127.0.0.1:<port>".
  std::string metrics_url() const;  // "http://127.0.0.1:<port>/metrics".
  int port() const { return port_; }
  // Everything the server wrote to stderr so far (for failure messages).
  std::string log() const;
  // SIGTERM, then the exit status (waits up to 30 s, then SIGKILL).
  int Stop();

 private:
  ServerProcess() = default;
  void DrainStderr(int fd);

  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<TempDir> registry_;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  std::optional<int> exit_status_;
};

}  // namespace loraplex::tools_testing

#endif  // LORAPLEX_TESTS_TOOLS_SUBPROCESS_H_
