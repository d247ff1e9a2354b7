#include "tools/loadgen/load_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace loraplex::loadgen {
namespace {

double Millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

nlohmann::json SummaryJson(const LatencySummary& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50},
          {"p90", s.p90},     {"p99", s.p99},   {"max", s.max}};
}

std::string SummaryText(const LatencySummary& s) {
  if (s.count == 0) return "n/a";
  return absl::StrFormat("p50 %.2f  p90 %.2f  p99 %.2f  mean %.2f  max %.2f",
                         s.p50, s.p90, s.p99, s.mean, s.max);
}

nlohmann::json OptionalRate(const std::optional<double>& rate) {
  return rate ? nlohmann::json(*rate) : nlohmann::json(nullptr);
}

}  // namespace

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = q * static_cast<double>(values.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(rank));
  const size_t upper = std::min(lower + 1, values.size() - 1);
  const double weight = rank - static_cast<double>(lower);
  return values[lower] + (values[upper] - values[lower]) * weight;
}

LatencySummary Summarize(std::vector<double> values_ms) {
  LatencySummary s;
  s.count = static_cast<int64_t>(values_ms.size());
  if (values_ms.empty()) return s;
  s.mean = std::accumulate(values_ms.begin(), values_ms.end(), 0.0) /
           static_cast<double>(values_ms.size());
  s.p50 = Percentile(values_ms, 0.50);
  s.p90 = Percentile(values_ms, 0.90);
  s.p99 = Percentile(values_ms, 0.99);
  s.max = values_ms.back();  // Sorted by Percentile.
  return s;
}

std::optional<double> CacheCounters::hit_rate() const {
  if (lookups() <= 0) return std::nullopt;
  return (device_hits + host_hits) / lookups();
}

std::optional<double> CacheCounters::device_hit_rate() const {
  if (lookups() <= 0) return std::nullopt;
  return device_hits / lookups();
}

LoadReport BuildReport(const std::vector<RequestRecord>& records) {
  LoadReport report;
  report.sent = static_cast<int64_t>(records.size());
  if (records.empty()) return report;
  Clock::time_point first_start = records.front().start;
  Clock::time_point last_end = records.front().end;
  std::vector<double> ttft, tpot, e2e;
  for (const RequestRecord& r : records) {
    first_start = std::min(first_start, r.start);
    last_end = std::max(last_end, r.end);
    ++report.requests_by_adapter[r.adapter_index < 0
                                     ? std::string("base")
                                     : absl::StrCat(r.adapter_index)];
    if (r.code != absl::StatusCode::kOk) {
      ++report.failed_by_code[absl::StatusCodeToString(r.code)];
      continue;
    }
    ++report.completed;
    report.output_tokens += r.output_tokens;
    e2e.push_back(Millis(r.end - r.start));
    if (r.output_tokens >= 1) ttft.push_back(Millis(r.first_token - r.start));
    if (r.output_tokens >= 2) {
      tpot.push_back(Millis(r.last_token - r.first_token) /
                     (r.output_tokens - 1));
    }
  }
  report.wall_seconds =
      std::chrono::duration<double>(last_end - first_start).count();
  if (report.wall_seconds > 0) {
    report.requests_per_second =
        static_cast<double>(report.completed) / report.wall_seconds;
    report.output_tokens_per_second =
        static_cast<double>(report.output_tokens) / report.wall_seconds;
  }
  report.ttft_ms = Summarize(std::move(ttft));
  report.tpot_ms = Summarize(std::move(tpot));
  report.e2e_ms = Summarize(std::move(e2e));
  return report;
}

nlohmann::json ReportToJson(const LoadReport& report,
                            const nlohmann::json& config) {
  nlohmann::json json = {
      {"config", config},
      {"sent", report.sent},
      {"completed", report.completed},
      {"failed", report.sent - report.completed},
      {"failed_by_code", report.failed_by_code},
      {"wall_seconds", report.wall_seconds},
      {"output_tokens", report.output_tokens},
      {"throughput",
       {{"requests_per_second", report.requests_per_second},
        {"output_tokens_per_second", report.output_tokens_per_second}}},
      {"ttft_ms", SummaryJson(report.ttft_ms)},
      {"tpot_ms", SummaryJson(report.tpot_ms)},
      {"e2e_ms", SummaryJson(report.e2e_ms)},
      {"requests_by_adapter", report.requests_by_adapter},
  };
  if (report.server_cache) {
    const CacheCounters& c = *report.server_cache;
    json["server_cache"] = {
        {"device_hits", c.device_hits},
        {"host_hits", c.host_hits},
        {"misses", c.misses},
        {"hit_rate", OptionalRate(c.hit_rate())},
        {"device_hit_rate", OptionalRate(c.device_hit_rate())}};
  } else {
    json["server_cache"] = nullptr;
  }
  return json;
}

std::string ReportToText(const LoadReport& report) {
  std::string out = absl::StrFormat(
      "requests:     %d sent, %d completed, %d failed\n", report.sent,
      report.completed, report.sent - report.completed);
  for (const auto& [code, count] : report.failed_by_code) {
    absl::StrAppend(&out, absl::StrFormat("  %-24s %d\n", code, count));
  }
  absl::StrAppend(
      &out,
      absl::StrFormat("throughput:   %.2f req/s, %.1f output tokens/s over "
                      "%.2f s\n",
                      report.requests_per_second,
                      report.output_tokens_per_second, report.wall_seconds),
      "TTFT ms:      ", SummaryText(report.ttft_ms), "\n",
      "TPOT ms:      ", SummaryText(report.tpot_ms), "\n",
      "end-to-end ms: ", SummaryText(report.e2e_ms), "\n");
  if (report.server_cache) {
    const CacheCounters& c = *report.server_cache;
    const std::optional<double> rate = c.hit_rate();
    absl::StrAppend(
        &out,
        absl::StrFormat(
            "server cache: %s hit rate (%.0f device hits, %.0f "
            "host hits, %.0f misses)\n",
            rate ? absl::StrFormat("%.1f%%", *rate * 100) : std::string("n/a"),
            c.device_hits, c.host_hits, c.misses));
  }
  return out;
}

}  // namespace loraplex::loadgen
