// Reading a loraplex-server's Prometheus /metrics endpoint: a minimal HTTP/1.0
// GET over a plain socket (the endpoint is plaintext HTTP) and a parser for
// the Prometheus text exposition format, enough for counters and gauges.
#ifndef LORAPLEX_TOOLS_LOADGEN_METRICS_SCRAPE_H_
#define LORAPLEX_TOOLS_LOADGEN_METRICS_SCRAPE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/loadgen/load_report.h"

namespace loraplex::loadgen {

// The adapter cache counters (service/metrics/server_metrics.h).
inline constexpr char kCacheHitsMetric[] = "loraplex_adapter_cache_hits_total";
inline constexpr char kCacheMissesMetric[] =
    "loraplex_adapter_cache_misses_total";

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Every sample line of `text` ('#' lines skipped). INVALID_ARGUMENT naming
// the line for one that is not `name{labels} value [timestamp]`.
absl::StatusOr<std::vector<MetricSample>> ParsePrometheusText(
    absl::string_view text);

// Sum of the samples named `name` whose labels include every pair in
// `match`; 0 when none.
double SumSamples(const std::vector<MetricSample>& samples,
                  absl::string_view name,
                  const std::map<std::string, std::string>& match = {});

// The body of a 200 answer to GET `url` ("http://host:port/path"). Blocks
// for at most `timeout`. INVALID_ARGUMENT for a URL that is not plain http;
// UNAVAILABLE when it cannot connect or the answer is cut short;
// DEADLINE_EXCEEDED after `timeout`; FAILED_PRECONDITION for another HTTP
// status.
absl::StatusOr<std::string> HttpGet(const std::string& url,
                                    absl::Duration timeout);

// The server's cache counters now (absolute values since it started).
absl::StatusOr<CacheCounters> ScrapeCacheCounters(const std::string& url,
                                                  absl::Duration timeout);

// after - before, field by field.
CacheCounters CounterDelta(const CacheCounters& before,
                           const CacheCounters& after);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_METRICS_SCRAPE_H_
