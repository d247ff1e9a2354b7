#include "tests/support/server_process.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace loraplex::testing {

std::string ServerBinary() {
  return absl::StrCat(LORAPLEX_BINARY_DIR, "/service/server/loraplex-server");
}
std::string CliBinary() {
  return absl::StrCat(LORAPLEX_BINARY_DIR, "/tools/cli/loraplex");
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

bool ParseStartupLine(const std::string& log, int* port, int* metrics_port,
                      int* http_port) {
  const size_t start = log.find("loraplex-server listening on ");
  if (start == std::string::npos) return false;
  const size_t end = log.find('\n', start);
  if (end == std::string::npos) return false;
  const absl::string_view line =
      absl::string_view(log).substr(start, end - start);
  const auto number_after = [line](absl::string_view marker, char stop,
                                   int* value) {
    const size_t at = line.find(marker);
    if (at == absl::string_view::npos) return false;
    const absl::string_view rest = line.substr(at + marker.size());
    return absl::SimpleAtoi(rest.substr(0, rest.find(stop)), value);
  };
  if (!number_after("(port ", ')', port)) return false;
  if (line.find("; metrics disabled") != absl::string_view::npos) {
    *metrics_port = 0;
  } else if (!number_after("; metrics on port ", ' ', metrics_port)) {
    return false;
  }
  if (http_port == nullptr) return true;
  if (line.find("; HTTP API disabled") != absl::string_view::npos) {
    *http_port = 0;
    return true;
  }
  return number_after("; HTTP API on port ", ' ', http_port);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& extra_flags,
    absl::Duration startup_timeout) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  std::vector<std::string> argv = {
      ServerBinary(),
      "--listen=127.0.0.1:0",
      "--metrics-listen=127.0.0.1:0",
      "--http-listen=127.0.0.1:0",
      "--http-threads=4",
      "--model=" + FixtureModelDir(),
      "--registry-dir=" + server->dir_.Join("registry"),
      "--seed-adapters=",
      "--device=cpu",
      "--threads=1",
      "--shutdown-grace=5s",
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(argv);
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  int port = 0, metrics_port = 0, http_port = 0;
  const bool started = server->process_->WaitForOutput(
      [&](const std::string& out, const std::string& err) {
        return ParseStartupLine(err, &port, &metrics_port, &http_port);
      },
      startup_timeout);
  if (!started) {
    return absl::FailedPreconditionError(absl::StrCat(
        "loraplex-server did not start (", server->process_->Describe(),
        "); its log:\n", server->log()));
  }
  server->port_ = port;
  server->metrics_port_ = metrics_port;
  server->http_port_ = http_port;
  return server;
}

ServerProcess::~ServerProcess() {
  if (process_ != nullptr) Stop();
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::string ServerProcess::metrics_url() const {
  return metrics_port_ == 0
             ? std::string()
             : absl::StrCat("http://127.0.0.1:", metrics_port_, "/metrics");
}

int ServerProcess::Stop(absl::Duration grace) { return process_->Stop(grace); }

}  // namespace loraplex::testing
