#include "tools/loadgen/load_report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loraplex::loadgen {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

TEST(PercentileTest, InterpolatesBetweenRanks) {
  std::vector<double> values = {4, 1, 3, 2, 5};
  EXPECT_DOUBLE_EQ(Percentile(values, 0.0), 1);
  EXPECT_DOUBLE_EQ(Percentile(values, 0.5), 3);
  EXPECT_DOUBLE_EQ(Percentile(values, 0.9), 4.6);
  EXPECT_DOUBLE_EQ(Percentile(values, 1.0), 5);
  std::vector<double> none;
  EXPECT_DOUBLE_EQ(Percentile(none, 0.5), 0);
}

TEST(SummarizeTest, MeanMaxAndCount) {
  const LatencySummary s = Summarize({10, 20, 30, 40});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 25);
  EXPECT_DOUBLE_EQ(s.p50, 25);
  EXPECT_DOUBLE_EQ(s.max, 40);
}

RequestRecord Completed(Clock::time_point t0, int start_ms, int first_ms,
                        int last_ms, int end_ms, int tokens, int adapter) {
  RequestRecord r;
  r.adapter_index = adapter;
  r.start = t0 + milliseconds(start_ms);
  r.first_token = t0 + milliseconds(first_ms);
  r.last_token = t0 + milliseconds(last_ms);
  r.end = t0 + milliseconds(end_ms);
  r.output_tokens = tokens;
  r.finished = true;
  r.code = absl::StatusCode::kOk;
  return r;
}

TEST(BuildReportTest, CountsThroughputAndLatencies) {
  const Clock::time_point t0 = Clock::now();
  std::vector<RequestRecord> records = {
      Completed(t0, 0, 100, 400, 410, 4, 0),      // TTFT 100, TPOT 100.
      Completed(t0, 500, 700, 1700, 2000, 6, 1),  // TTFT 200, TPOT 200.
  };
  RequestRecord failed;
  failed.adapter_index = -1;
  failed.start = t0 + milliseconds(100);
  failed.end = t0 + milliseconds(150);
  failed.code = absl::StatusCode::kResourceExhausted;
  records.push_back(failed);

  const LoadReport report = BuildReport(records);
  EXPECT_EQ(report.sent, 3);
  EXPECT_EQ(report.completed, 2);
  EXPECT_EQ(report.failed_by_code.at("RESOURCE_EXHAUSTED"), 1);
  EXPECT_DOUBLE_EQ(report.wall_seconds, 2.0);
  EXPECT_EQ(report.output_tokens, 10);
  EXPECT_DOUBLE_EQ(report.requests_per_second, 1.0);
  EXPECT_DOUBLE_EQ(report.output_tokens_per_second, 5.0);
  EXPECT_EQ(report.ttft_ms.count, 2);
  EXPECT_NEAR(report.ttft_ms.p50, 150, 1e-6);
  EXPECT_NEAR(report.tpot_ms.max, 200, 1e-6);
  EXPECT_NEAR(report.e2e_ms.max, 1500, 1e-6);
  EXPECT_EQ(report.requests_by_adapter.at("base"), 1);
  EXPECT_EQ(report.requests_by_adapter.at("0"), 1);
  EXPECT_EQ(report.requests_by_adapter.at("1"), 1);
}

TEST(BuildReportTest, EmptyRunHasZeros) {
  const LoadReport report = BuildReport({});
  EXPECT_EQ(report.sent, 0);
  EXPECT_EQ(report.completed, 0);
  EXPECT_EQ(report.ttft_ms.count, 0);
}

TEST(ReportToJsonTest, CarriesCountsCacheAndConfig) {
  const Clock::time_point t0 = Clock::now();
  LoadReport report = BuildReport({Completed(t0, 0, 10, 30, 40, 3, 0)});
  report.server_cache = CacheCounters{6, 2, 2};
  const nlohmann::json json = ReportToJson(report, {{"mode", "closed_loop"}});
  EXPECT_EQ(json["sent"], 1);
  EXPECT_EQ(json["completed"], 1);
  EXPECT_EQ(json["failed"], 0);
  EXPECT_EQ(json["config"]["mode"], "closed_loop");
  EXPECT_DOUBLE_EQ(json["server_cache"]["hit_rate"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(json["server_cache"]["device_hit_rate"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(json["ttft_ms"]["p50"].get<double>(), 10);
  EXPECT_TRUE(json["throughput"].contains("output_tokens_per_second"));
}

TEST(ReportToJsonTest, NoLookupsGiveNullRates) {
  LoadReport report;
  report.server_cache = CacheCounters{};
  const nlohmann::json json = ReportToJson(report, {});
  EXPECT_TRUE(json["server_cache"]["hit_rate"].is_null());
  report.server_cache.reset();
  EXPECT_TRUE(ReportToJson(report, {})["server_cache"].is_null());
}

TEST(ReportToTextTest, NamesFailuresAndHitRate) {
  const Clock::time_point t0 = Clock::now();
  RequestRecord failed;
  failed.start = failed.end = t0;
  failed.code = absl::StatusCode::kNotFound;
  LoadReport report = BuildReport({Completed(t0, 0, 5, 5, 6, 1, 0), failed});
  report.server_cache = CacheCounters{1, 0, 1};
  const std::string text = ReportToText(report);
  EXPECT_THAT(text, HasSubstr("2 sent, 1 completed, 1 failed"));
  EXPECT_THAT(text, HasSubstr("NOT_FOUND"));
  EXPECT_THAT(text, HasSubstr("50.0% hit rate"));
}

}  // namespace
}  // namespace loraplex::loadgen
