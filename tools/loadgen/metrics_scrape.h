// Reading a loraplex-server's adapter cache counters from its Prometheus
// /metrics endpoint (HTTP GET and parsing: tools/metrics_client).
#ifndef LORAPLEX_TOOLS_LOADGEN_METRICS_SCRAPE_H_
#define LORAPLEX_TOOLS_LOADGEN_METRICS_SCRAPE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/loadgen/load_report.h"
#include "tools/metrics_client/prometheus_text.h"

namespace loraplex::loadgen {

// The adapter cache counters (service/metrics/server_metrics.h).
inline constexpr char kCacheHitsMetric[] = "loraplex_adapter_cache_hits_total";
inline constexpr char kCacheMissesMetric[] =
    "loraplex_adapter_cache_misses_total";

// The cache counters in a parsed exposition (absolute values since the
// server started; a counter not exported yet counts 0).
CacheCounters CacheCountersOf(const metrics_client::ScrapedMetrics& metrics);

// GETs `url` ("http://host:port/metrics") and reads the cache counters.
// Errors as metrics_client::HttpGetBody (`timeout` bounds each network
// wait) and ScrapedMetrics::Parse.
absl::StatusOr<CacheCounters> ScrapeCacheCounters(const std::string& url,
                                                  absl::Duration timeout);

// after - before, field by field.
CacheCounters CounterDelta(const CacheCounters& before,
                           const CacheCounters& after);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_METRICS_SCRAPE_H_
