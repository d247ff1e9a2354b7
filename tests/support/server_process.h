// A loraplex-server child for the tests that run the built binaries: on
// 127.0.0.1 with gRPC, metrics and the HTTP API on ports the kernel picked
// (read back from its start-up line, so no port is ever guessed), the llama-gqa
// fixture model on the CPU, and its registry in a temporary directory. Also the
// paths of the built executables and the fixture files.
#ifndef LORAPLEX_TESTS_SUPPORT_SERVER_PROCESS_H_
#define LORAPLEX_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace loraplex::testing {

// The built executables (LORAPLEX_BINARY_DIR).
std::string ServerBinary();
std::string CliBinary();
std::string LoadgenBinary();
// tests/data/fixtures/hf-dev/llama-gqa/{model,adapters/<name>}.
std::string FixtureModelDir();
std::string FixtureAdapterDir(const std::string& name);

class ServerProcess {
 public:
  // Starts loraplex-server with the defaults above (one CPU thread, 5 s
  // shutdown grace, no seed adapters, open mode) followed by
  // `extra_flags`, which override them (the last value of a flag wins).
  // Returns once the server listens. FAILED_PRECONDITION with its log if it
  // exits or has not started within `startup_timeout` (a safety net).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra_flags = {},
      absl::Duration startup_timeout = absl::Seconds(180));

  // Stops the server (as Stop) if it still runs.
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  // 0 / "" when started with --metrics-listen= (metrics off).
  int metrics_port() const { return metrics_port_; }
  std::string metrics_url() const;  // "http://127.0.0.1:<port>/metrics"
  // 0 when started with --http-listen=none (the HTTP API off).
  int http_port() const { return http_port_; }
  // Everything the server logged so far (for failure messages).
  std::string log() const { return process_->err() + process_->out(); }
  ChildProcess& process() { return *process_; }
  const std::string& dir() const { return dir_.path(); }  // Its scratch dir.

  // SIGTERM, then up to `grace` to drain and exit (then SIGKILL). Returns
  // the exit code (0 after a graceful shutdown).
  int Stop(absl::Duration grace = absl::Seconds(60));

 private:
  ServerProcess() = default;

  TempDir dir_;  // Holds the registry; outlives the process.
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
};

// The ports in a start-up log line "loraplex-server listening on <address>
// (port <port>); metrics on port <port> at /metrics; HTTP API on port
// <port> at /v1" (or "metrics disabled" / "HTTP API disabled": port 0),
// from service/server/server_app.cc. False until the whole line is in
// `log`. `http_port` may be null.
bool ParseStartupLine(const std::string& log, int* port, int* metrics_port,
                      int* http_port = nullptr);

}  // namespace loraplex::testing

#endif  // LORAPLEX_TESTS_SUPPORT_SERVER_PROCESS_H_
