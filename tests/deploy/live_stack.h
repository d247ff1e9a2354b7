// The "live stack" of the deployment tests: a real loraplex-server on
// loopback (fixture model, API keys for two tenants), a known mix of
// requests sent to it, and a real Prometheus (Debian's package) scraping it
// with the shipped rules loaded. Everything listens on 127.0.0.1 only and is
// stopped (and the scratch folder removed) by Stop() or the destructor.
#ifndef LORAPLEX_TESTS_DEPLOY_LIVE_STACK_H_
#define LORAPLEX_TESTS_DEPLOY_LIVE_STACK_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/server_process.h"
#include "tools/metrics_client/prometheus_text.h"

namespace loraplex::deploy_test {

using ::loraplex::metrics_client::ScrapedMetrics;

struct LiveStackOptions {
  std::string prometheus_path;  // prometheus
  std::string model_dir;        // A Hugging Face model directory.
  std::string adapter_dir;      // A PEFT adapter for that model.
  std::string rules_file;       // Loaded by Prometheus (absolute path).
  // Tokens each generate call asks for (EOS ignored, so exact).
  int max_new_tokens = 4;
};

// What SendTraffic sends, so tests can check the counts exactly.
struct TrafficCounts {
  static constexpr int kAcmeBaseGenerates = 3;     // acme, Generate, OK
  static constexpr int kAcmeAdapterGenerates = 2;  // acme, Generate "qv", OK
  static constexpr int kGlobexStreams = 1;         // globex, GenerateStream, OK
  static constexpr int kGlobexNotFound = 1;  // globex, Generate, NOT_FOUND
  static constexpr int kBadKeyCalls = 1;     // Generate, UNAUTHENTICATED
  static constexpr int kPromptTokens = 3;    // Per generate call.
};

inline constexpr char kUploadedAdapterName[] = "qv";

class LiveStack {
 public:
  // Starts the server (loraplex-server of this build, on ports it picks),
  // checks it is SERVING, sends the traffic, scrapes /metrics once, then
  // starts Prometheus (also on a port it picks) and waits until it is
  // ready. Errors name the step and carry the tail of the failing
  // process's log.
  static absl::StatusOr<std::unique_ptr<LiveStack>> Start(
      const LiveStackOptions& options);

  ~LiveStack();

  // SIGTERM to Prometheus and the server; OK when both exit with code 0
  // within their grace (the server drains). Removes the scratch folder.
  absl::Status Stop();

  // The /metrics scrape taken right after the traffic.
  const ScrapedMetrics& scrape() const { return scrape_; }
  // A fresh /metrics scrape.
  absl::StatusOr<ScrapedMetrics> ScrapeNow() const;

  // GET /api/v1/<endpoint>?<query> from Prometheus, parsed; error unless
  // the HTTP status is 200 and "status" is "success" (INVALID_ARGUMENT with
  // Prometheus's error message for a bad query).
  absl::StatusOr<nlohmann::json> PrometheusApi(
      const std::string& endpoint, const std::string& query = "") const;
  // Runs an instant query until `accept` holds for its "data" or `timeout`
  // passes; returns the last data (DEADLINE_EXCEEDED with it on timeout).
  // Prometheus offers no way to be told when a result changes, so this
  // asks again every evaluation interval (1 s).
  absl::StatusOr<nlohmann::json> WaitForQuery(
      const std::string& promql,
      const std::function<bool(const nlohmann::json&)>& accept,
      absl::Duration timeout = absl::Seconds(40)) const;

  int metrics_port() const { return server_->metrics_port(); }

 private:
  LiveStack() = default;

  absl::Status StartServer(const LiveStackOptions& options);
  absl::Status SendTraffic(const LiveStackOptions& options);
  absl::Status StartPrometheus(const LiveStackOptions& options);

  testing::TempDir dir_;  // Scratch folder (the key file, Prometheus's).
  int prometheus_port_ = 0;
  std::unique_ptr<testing::ServerProcess> server_;
  std::unique_ptr<testing::ChildProcess> prometheus_;
  ScrapedMetrics scrape_;
};

}  // namespace loraplex::deploy_test

#endif  // LORAPLEX_TESTS_DEPLOY_LIVE_STACK_H_
