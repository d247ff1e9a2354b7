#include "tools/loadgen/metrics_scrape.h"

#include "engine/common/status_macros.h"
#include "tools/metrics_client/http_get.h"

namespace loraplex::loadgen {

CacheCounters CacheCountersOf(const metrics_client::ScrapedMetrics& metrics) {
  CacheCounters counters;
  counters.device_hits =
      metrics.Sum(kCacheHitsMetric, {{"tier", "device"}}).value_or(0);
  counters.host_hits =
      metrics.Sum(kCacheHitsMetric, {{"tier", "host"}}).value_or(0);
  counters.misses = metrics.Sum(kCacheMissesMetric).value_or(0);
  return counters;
}

absl::StatusOr<CacheCounters> ScrapeCacheCounters(const std::string& url,
                                                  absl::Duration timeout) {
  ASSIGN_OR_RETURN(const std::string body,
                   metrics_client::HttpGetBody(url, timeout));
  ASSIGN_OR_RETURN(const metrics_client::ScrapedMetrics metrics,
                   metrics_client::ScrapedMetrics::Parse(body));
  return CacheCountersOf(metrics);
}

CacheCounters CounterDelta(const CacheCounters& before,
                           const CacheCounters& after) {
  CacheCounters delta;
  delta.device_hits = after.device_hits - before.device_hits;
  delta.host_hits = after.host_hits - before.host_hits;
  delta.misses = after.misses - before.misses;
  return delta;
}

}  // namespace loraplex::loadgen
