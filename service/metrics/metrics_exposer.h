// Serves a prometheus::Registry over HTTP (`/metrics`) on its own port, for
// `--metrics-listen` (default "0.0.0.0:9090"; empty disables it).
//
// Why not prometheus::Exposer: its civetweb threads are created with a fixed
// 100 KiB stack, and glibc carves every thread's static TLS out of that stack.
// In a process that links LibTorch the static TLS alone is larger (OpenBLAS
// 60 KiB + glog 30 KiB + LibTorch 10 KiB + ...), so pthread_create fails with
// EINVAL and the exposer never starts. Scrapes are rare and small, so one
// thread with a default-sized stack serving one connection at a time is
// enough; the text format comes from prometheus-cpp's TextSerializer.
#ifndef LORAPLEX_SERVICE_METRICS_METRICS_EXPOSER_H_
#define LORAPLEX_SERVICE_METRICS_METRICS_EXPOSER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace loraplex::service {

inline constexpr char kDefaultMetricsListen[] = "0.0.0.0:9090";

class MetricsExposer {
 public:
  // Listens on `listen_address` ("host:port", "port", or "[v6addr]:port";
  // port 0 picks a free one) and serves `registry` at /metrics until
  // destroyed. `before_scrape`, if set, runs at the start of every scrape on
  // the HTTP thread (so it must be thread-safe), e.g. to refresh gauges from
  // Engine::Stats(). An empty address means disabled: returns nullptr.
  // UNAVAILABLE when the address cannot be parsed or bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& listen_address,
      std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_scrape = nullptr);

  // Stops serving and joins the HTTP thread (at most one in-flight scrape).
  ~MetricsExposer();

  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // The ports actually bound (resolves port 0).
  std::vector<int> listening_ports() const;

 private:
  MetricsExposer(int listen_fd, int wake_fd, int port,
                 std::shared_ptr<prometheus::Registry> registry,
                 std::function<void()> before_scrape);

  void Serve();
  void HandleConnection(int fd);
  std::string RenderMetrics();

  const int listen_fd_;
  const int wake_fd_;  // eventfd: written once by the destructor.
  const int port_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<void()> before_scrape_;
  std::thread thread_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_METRICS_METRICS_EXPOSER_H_
