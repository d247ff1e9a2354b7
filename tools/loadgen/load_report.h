// Turning the records of a run into the report the load generator prints:
// counts by outcome, throughput, and latency percentiles (time to first
// token, time per output token, end to end), plus the server's adapter cache
// hit rate when its /metrics were read before and after.
#ifndef LORAPLEX_TOOLS_LOADGEN_LOAD_REPORT_H_
#define LORAPLEX_TOOLS_LOADGEN_LOAD_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tools/loadgen/request_record.h"

namespace loraplex::loadgen {

// Milliseconds.
struct LatencySummary {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Linear interpolation between closest ranks (numpy's default) of `values`
// at quantile `q` in [0, 1]; 0 for no values. Sorts `values`.
double Percentile(std::vector<double>& values, double q);
LatencySummary Summarize(std::vector<double> values_ms);

// Deltas of the server's adapter cache counters over the run.
struct CacheCounters {
  double device_hits = 0;
  double host_hits = 0;
  double misses = 0;

  double lookups() const { return device_hits + host_hits + misses; }
  // Hits (either tier) over lookups; nullopt without lookups.
  std::optional<double> hit_rate() const;
  std::optional<double> device_hit_rate() const;
};

struct LoadReport {
  int64_t sent = 0;
  int64_t completed = 0;                          // OK status.
  std::map<std::string, int64_t> failed_by_code;  // "RESOURCE_EXHAUSTED" -> n.
  double wall_seconds = 0;                        // First start to last end.
  int64_t output_tokens = 0;                      // Of completed requests.
  double requests_per_second = 0;
  double output_tokens_per_second = 0;
  LatencySummary ttft_ms;  // Start -> first token.
  LatencySummary tpot_ms;  // (last - first token) / (tokens - 1), >= 2 tokens.
  LatencySummary e2e_ms;   // Start -> final status, completed only.
  // Requests per adapter index ("base" for -1), completed or not.
  std::map<std::string, int64_t> requests_by_adapter;
  std::optional<CacheCounters> server_cache;  // Without --metrics-url: none.
};

LoadReport BuildReport(const std::vector<RequestRecord>& records);

// A JSON object (schema in tools/loadgen/README.md); `config` is copied in
// under "config".
nlohmann::json ReportToJson(const LoadReport& report,
                            const nlohmann::json& config);
// A few aligned lines for people.
std::string ReportToText(const LoadReport& report);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_LOAD_REPORT_H_
