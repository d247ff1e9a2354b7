#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "service/metrics/server_metrics.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using CacheOutcome = engine::EngineObserver::CacheOutcome;

std::string Scrape(prometheus::Registry& registry) {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, registry.Collect());
  return text.str();
}

// The serialized line for one series: "<series> <value>\n".
std::string Line(const std::string& series, const std::string& value) {
  return "\n" + series + " " + value + "\n";
}

class ServerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
        ServerMetrics::Create(registry_);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = *std::move(metrics);
  }

  prometheus::Registry registry_;
  std::unique_ptr<ServerMetrics> metrics_;
};

TEST_F(ServerMetricsTest, EveryDocumentedFamilyIsExportedWithHelp) {
  // Families labelled by tenant have no series (so are not exported) until
  // a first observation.
  metrics_->RecordRequest(ServerMetrics::Api::kGrpc, "acme", "Generate",
                          absl::StatusCode::kOk);
  metrics_->RecordGeneration("acme", {}, {});
  metrics_->RecordUploadBytes("acme", 1);
  const std::string text = Scrape(registry_);
  for (const char* name : {
           "loraplex_requests_total",
           "loraplex_request_queue_wait_seconds",
           "loraplex_request_time_to_first_token_seconds",
           "loraplex_request_time_per_output_token_seconds",
           "loraplex_request_duration_seconds",
           "loraplex_prompt_tokens_total",
           "loraplex_completion_tokens_total",
           "loraplex_upload_bytes_total",
           "loraplex_engine_steps_total",
           "loraplex_engine_step_duration_seconds",
           "loraplex_engine_batch_size",
           "loraplex_engine_batch_distinct_adapters",
           "loraplex_engine_prefill_tokens_total",
           "loraplex_engine_decode_tokens_total",
           "loraplex_adapter_cache_hits_total",
           "loraplex_adapter_cache_misses_total",
           "loraplex_adapter_cache_evictions_total",
           "loraplex_adapter_load_seconds",
           "loraplex_adapters_resident",
           "loraplex_adapters_registered",
           "loraplex_kv_slots_in_use",
           "loraplex_kv_slots_capacity",
           "loraplex_kv_cache_tokens",
           "loraplex_lora_rank_rows",
           "loraplex_queued_requests",
           "loraplex_running_sequences",
       }) {
    // (Not HasSubstr: a failure would print the whole exposition per name.)
    EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos)
        << name;
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos)
        << name;
  }
}

TEST_F(ServerMetricsTest, CountsRequestsByApiTenantRpcAndCode) {
  metrics_->RecordRequest(ServerMetrics::Api::kGrpc, "acme", "Generate",
                          absl::StatusCode::kOk);
  metrics_->RecordRequest(ServerMetrics::Api::kGrpc, "acme", "Generate",
                          absl::StatusCode::kOk);
  metrics_->RecordRequest(ServerMetrics::Api::kGrpc, "acme", "GetAdapter",
                          absl::StatusCode::kNotFound);
  metrics_->RecordRequest(ServerMetrics::Api::kGrpc, "", "Generate",
                          absl::StatusCode::kUnauthenticated);
  metrics_->RecordRequest(ServerMetrics::Api::kHttp, "acme", "Completions",
                          absl::StatusCode::kResourceExhausted);
  const std::string text = Scrape(registry_);
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_requests_total{api=\"grpc\",code=\"OK\","
                             "rpc=\"Generate\",tenant=\"acme\"}",
                             "2")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_requests_total{api=\"grpc\",code=\"NOT_FOUND\","
                     "rpc=\"GetAdapter\",tenant=\"acme\"}",
                     "1")));
  EXPECT_THAT(
      text, HasSubstr(Line(
                "loraplex_requests_total{api=\"grpc\",code=\"UNAUTHENTICATED\","
                "rpc=\"Generate\",tenant=\"unauthenticated\"}",
                "1")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_requests_total{api=\"http\","
                                   "code=\"RESOURCE_EXHAUSTED\","
                                   "rpc=\"Completions\",tenant=\"acme\"}",
                                   "1")));
}

TEST_F(ServerMetricsTest, RecordsGenerationTokensAndLatencies) {
  engine::GenerationTimings timings;
  timings.queue = absl::Milliseconds(20);
  timings.first_token = absl::Milliseconds(100);
  timings.total = absl::Milliseconds(2100);
  metrics_->RecordGeneration("acme",
                             {/*prompt_tokens=*/7,
                              /*completion_tokens=*/5},
                             timings);
  const std::string text = Scrape(registry_);
  EXPECT_THAT(text, HasSubstr(Line(
                        "loraplex_prompt_tokens_total{tenant=\"acme\"}", "7")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_completion_tokens_total{tenant=\"acme\"}",
                           "5")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_request_queue_wait_seconds_sum", "0.02")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_request_queue_wait_seconds_bucket"
                                   "{le=\"0.01\"}",
                                   "0")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_request_queue_wait_seconds_bucket"
                                   "{le=\"0.025\"}",
                                   "1")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_request_time_to_first_token_seconds_sum",
                             "0.1")));
  // (2.1 s - 0.1 s) / (5 - 1) tokens.
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_request_time_per_output_token_seconds_sum",
                           "0.5")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_request_duration_seconds_sum", "2.1")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_request_duration_seconds_count", "1")));
}

TEST_F(ServerMetricsTest, PerTokenTimeNeedsTwoTokensFirstTokenNeedsOne) {
  engine::GenerationTimings timings;
  timings.first_token = absl::Milliseconds(50);
  timings.total = absl::Milliseconds(50);
  metrics_->RecordGeneration("acme", {3, 1}, timings);
  metrics_->RecordGeneration("acme", {3, 0}, timings);
  const std::string text = Scrape(registry_);
  EXPECT_THAT(
      text, HasSubstr(Line(
                "loraplex_request_time_per_output_token_seconds_count", "0")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_request_time_to_first_token_seconds_count",
                           "1")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_request_duration_seconds_count", "2")));
}

TEST_F(ServerMetricsTest, ObservesEngineSteps) {
  metrics_->OnStep(/*batch_rows=*/3, /*distinct_adapters=*/2,
                   /*prefill_tokens=*/40, /*decode_tokens=*/2,
                   absl::Milliseconds(4));
  metrics_->OnStep(8, 0, 0, 8, absl::Milliseconds(2));
  const std::string text = Scrape(registry_);
  EXPECT_THAT(text, HasSubstr(Line("loraplex_engine_steps_total", "2")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_engine_prefill_tokens_total", "40")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_engine_decode_tokens_total", "10")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_engine_batch_size_sum", "11")));
  EXPECT_THAT(text, HasSubstr(Line(
                        "loraplex_engine_batch_size_bucket{le=\"4\"}", "1")));
  EXPECT_THAT(text, HasSubstr(Line(
                        "loraplex_engine_batch_size_bucket{le=\"8\"}", "2")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_engine_batch_distinct_adapters_bucket"
                             "{le=\"0\"}",
                             "1")));
  EXPECT_THAT(text, HasSubstr(Line(
                        "loraplex_engine_batch_distinct_adapters_sum", "2")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_engine_step_duration_seconds_sum",
                                   "0.006")));
}

TEST_F(ServerMetricsTest, CountsCacheOutcomesLoadsAndEvictions) {
  metrics_->OnAdapterLookup(CacheOutcome::kDeviceHit);
  metrics_->OnAdapterLookup(CacheOutcome::kDeviceHit);
  metrics_->OnAdapterLookup(CacheOutcome::kHostHit);
  metrics_->OnAdapterLookup(CacheOutcome::kMiss);
  metrics_->OnAdapterLoaded(/*from_disk=*/true, absl::Milliseconds(250));
  metrics_->OnAdapterLoaded(/*from_disk=*/false, absl::Milliseconds(2));
  metrics_->OnAdapterEvicted(/*from_device=*/true);
  metrics_->OnAdapterEvicted(/*from_device=*/false);
  metrics_->OnAdapterEvicted(/*from_device=*/false);
  const std::string text = Scrape(registry_);
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_adapter_cache_hits_total{tier=\"device\"}",
                           "2")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_adapter_cache_hits_total{tier=\"host\"}", "1")));
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_adapter_cache_misses_total", "1")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_adapter_cache_evictions_total{tier=\"device\"}",
                     "1")));
  EXPECT_THAT(
      text, HasSubstr(Line(
                "loraplex_adapter_cache_evictions_total{tier=\"host\"}", "2")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_adapter_load_seconds_sum{source=\"disk\"}",
                           "0.25")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_adapter_load_seconds_sum{source=\"host\"}",
                           "0.002")));
}

TEST_F(ServerMetricsTest, CountsAdapterLoadFailuresBySourceAndCode) {
  metrics_->OnAdapterLoadFailed(/*from_disk=*/true,
                                absl::StatusCode::kInvalidArgument);
  metrics_->OnAdapterLoadFailed(/*from_disk=*/true,
                                absl::StatusCode::kInvalidArgument);
  metrics_->OnAdapterLoadFailed(/*from_disk=*/false,
                                absl::StatusCode::kInternal);
  const std::string text = Scrape(registry_);
  EXPECT_NE(text.find("# HELP loraplex_adapter_load_failures_total "),
            std::string::npos);
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_adapter_load_failures_total"
                             "{code=\"INVALID_ARGUMENT\",source=\"disk\"}",
                             "2")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_adapter_load_failures_total"
                                   "{code=\"INTERNAL\",source=\"host\"}",
                                   "1")));
}

TEST_F(ServerMetricsTest, SetsGaugesFromEngineStats) {
  engine::EngineStats stats;
  stats.queued_requests = 5;
  stats.running_sequences = 3;
  stats.kv_slots_in_use = 3;
  stats.kv_slots_total = 32;
  stats.resident_adapters_device = 4;
  stats.resident_adapters_host = 9;
  stats.registered_adapters = 12;
  stats.kv_tokens_in_use = 320;
  stats.kv_tokens_reserved = 1024;
  stats.kv_tokens_capacity = 4096;
  stats.lora_rank_rows_in_use = 40;
  stats.lora_rank_rows_capacity = 1024;
  metrics_->UpdateEngineStats(stats);
  std::string text = Scrape(registry_);
  EXPECT_THAT(text, HasSubstr(Line("loraplex_queued_requests", "5")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_running_sequences", "3")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_kv_slots_in_use", "3")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_kv_slots_capacity", "32")));
  EXPECT_THAT(text, HasSubstr(Line(
                        "loraplex_adapters_resident{tier=\"device\"}", "4")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_adapters_resident{tier=\"host\"}", "9")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_adapters_registered", "12")));
  EXPECT_THAT(text, HasSubstr(Line("loraplex_kv_cache_tokens{state=\"in_use\"}",
                                   "320")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_kv_cache_tokens{state=\"reserved\"}", "1024")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_kv_cache_tokens{state=\"capacity\"}", "4096")));
  EXPECT_THAT(
      text, HasSubstr(Line("loraplex_lora_rank_rows{state=\"in_use\"}", "40")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_lora_rank_rows{state=\"capacity\"}", "1024")));
  stats.queued_requests = 0;
  metrics_->UpdateEngineStats(stats);
  text = Scrape(registry_);
  EXPECT_THAT(text, HasSubstr(Line("loraplex_queued_requests", "0")));
}

TEST_F(ServerMetricsTest, CountsUploadBytesByTenant) {
  metrics_->RecordUploadBytes("acme", 1 << 20);
  metrics_->RecordUploadBytes("acme", 24);
  metrics_->RecordUploadBytes("globex", 10);
  const std::string text = Scrape(registry_);
  EXPECT_THAT(text,
              HasSubstr(Line("loraplex_upload_bytes_total{tenant=\"acme\"}",
                             "1048600")));
  EXPECT_THAT(
      text,
      HasSubstr(Line("loraplex_upload_bytes_total{tenant=\"globex\"}", "10")));
  EXPECT_THAT(text, Not(HasSubstr("tenant=\"unauthenticated\"")));
}

TEST(ServerMetricsCreateTest, ANameClashIsAnErrorNotAnException) {
  prometheus::Registry registry;
  prometheus::BuildGauge()
      .Name("loraplex_requests_total")
      .Help("squatter")
      .Register(registry);
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Create(registry);
  EXPECT_EQ(metrics.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(metrics.status().message(),
              HasSubstr("cannot register the server metrics"));
}

}  // namespace
}  // namespace loraplex::service
