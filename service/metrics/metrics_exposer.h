// Serves a prometheus::Registry over HTTP (`/metrics`) on its own port, for
// `--metrics-listen` (default "0.0.0.0:9090"; empty disables it).
//
// Why not prometheus::Exposer: its civetweb threads are created with a fixed
// 100 KiB stack, and glibc carves every thread's static TLS out of that stack.
// In a process that links LibTorch the static TLS alone is larger (OpenBLAS
// 60 KiB + glog 30 KiB + LibTorch 10 KiB + ...), so pthread_create fails with
// EINVAL and the exposer never starts. The HTTP side is cpp-httplib, whose
// threads have default stacks, bounded so that no client can stall scrapes
// (service/http/bounded_http_server.h); the text format comes from prometheus-cpp's
// TextSerializer.
#ifndef LORAPLEX_SERVICE_METRICS_METRICS_EXPOSER_H_
#define LORAPLEX_SERVICE_METRICS_METRICS_EXPOSER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "service/http/bounded_http_server.h"

namespace loraplex::service {

inline constexpr char kDefaultMetricsListen[] = "0.0.0.0:9090";

class MetricsExposer {
 public:
  // Listens on `listen_address` ("host:port", "port", or "[v6addr]:port";
  // port 0 picks a free one) and serves `registry` at /metrics (GET or
  // HEAD) until destroyed. `before_scrape`, if set, runs at the start of
  // every scrape on an HTTP worker thread (so it must be thread-safe; scrapes
  // may run concurrently), e.g. to refresh gauges from Engine::Stats(). An
  // empty address means disabled: returns nullptr. UNAVAILABLE when the
  // address cannot be parsed or bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& listen_address,
      std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_scrape = nullptr,
      const HttpServerLimits& limits = HttpServerLimits());

  // Stops serving: ends open connections at once, waits for scrapes being
  // rendered, joins the HTTP threads.
  ~MetricsExposer() = default;

  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // The ports actually bound (resolves port 0).
  std::vector<int> listening_ports() const { return {http_->port()}; }

 private:
  MetricsExposer() = default;

  // Everything a scrape reads; shared with the HTTP handlers, and declared
  // before http_ so that it outlives the server's threads.
  struct Source {
    std::shared_ptr<prometheus::Registry> registry;
    std::function<void()> before_scrape;
    std::string Render() const;
  };
  std::unique_ptr<Source> source_;
  std::unique_ptr<BoundedHttpServer> http_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_METRICS_METRICS_EXPOSER_H_
