// loraplex-loadgen against a real server: a 5-second closed-loop smoke load
// over adapters it creates itself, and an open-loop run of a fixed count.
// The JSON report must account for every request sent, and agree with the
// server's own request counter.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/cli_test_util.h"
#include "tools/metrics_client/http_get.h"
#include "tools/metrics_client/prometheus_text.h"

namespace loraplex::tools_testing {
namespace {

using ::testing::HasSubstr;

ProcessResult Loadgen(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LoadgenBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions options;
  options.env = {{"LORAPLEX_SERVER", std::nullopt},
                 {"LORAPLEX_API_KEY", std::nullopt}};
  absl::StatusOr<ProcessResult> r = RunProcess(argv, options);
  if (!r.ok()) {
    ProcessResult failed;
    failed.err = std::string(r.status().message());
    return failed;
  }
  return *r;
}

// GenerateStream calls the server counted, whatever their outcome.
double ServerStreamCalls(const ServerProcess& server) {
  absl::StatusOr<std::string> text =
      metrics_client::HttpGetBody(server.metrics_url(), absl::Seconds(60));
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return -1;
  absl::StatusOr<metrics_client::ScrapedMetrics> metrics =
      metrics_client::ScrapedMetrics::Parse(*text);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  if (!metrics.ok()) return -1;
  return metrics->Sum("loraplex_requests_total", {{"rpc", "GenerateStream"}})
      .value_or(0);
}

// Every request is accounted for, once.
void ExpectConsistent(const nlohmann::json& report) {
  const int64_t sent = report["sent"];
  EXPECT_EQ(
      report["completed"].get<int64_t>() + report["failed"].get<int64_t>(),
      sent);
  int64_t by_code = 0;
  for (const auto& [code, count] : report["failed_by_code"].items()) {
    by_code += count.get<int64_t>();
  }
  EXPECT_EQ(by_code, report["failed"].get<int64_t>());
  int64_t by_adapter = 0;
  for (const auto& [adapter, count] : report["requests_by_adapter"].items()) {
    by_adapter += count.get<int64_t>();
  }
  EXPECT_EQ(by_adapter, sent);
}

TEST(LoadgenSmokeTest, FiveSecondsClosedLoopOverCreatedAdapters) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({"--max-resident-adapters=2"});
  ASSERT_TRUE(server.ok()) << server.status();
  const ProcessResult r = Loadgen({"--server",
                                   (*server)->address(),
                                   "--concurrency",
                                   "4",
                                   "--duration",
                                   "5",
                                   "--adapters-prefix",
                                   "lg-",
                                   "--create-adapters",
                                   "4",
                                   "--rank",
                                   "4",
                                   "--model-config",
                                   FixtureModelDir() + "/config.json",
                                   "--alpha",
                                   "1",
                                   "--prompt-tokens",
                                   "4:12",
                                   "--output-tokens",
                                   "4:8",
                                   "--metrics-url",
                                   (*server)->metrics_url(),
                                   "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << "\nserver log:\n" << (*server)->log();
  EXPECT_THAT(r.err, HasSubstr("uploaded 4 random adapters"));
  const nlohmann::json report = ParseJsonOrFail(r.out);
  ASSERT_TRUE(report.is_object());
  ExpectConsistent(report);
  const int64_t sent = report["sent"];
  const int64_t completed = report["completed"];
  EXPECT_GE(sent, 4);
  EXPECT_EQ(report["failed"], 0) << report.dump(2);
  EXPECT_EQ(report["config"]["num_adapters"], 4);
  EXPECT_EQ(report["config"]["mode"], "closed_loop");
  EXPECT_GE(report["wall_seconds"].get<double>(), 4.5);
  const int64_t tokens = report["output_tokens"];
  EXPECT_GE(tokens, 4 * completed);
  EXPECT_LE(tokens, 8 * completed);
  EXPECT_EQ(report["ttft_ms"]["count"], completed);
  EXPECT_GT(report["throughput"]["requests_per_second"].get<double>(), 0);
  EXPECT_LE(report["ttft_ms"]["p50"].get<double>(),
            report["ttft_ms"]["p99"].get<double>());
  // The server saw the same number of calls, and looked up an adapter for
  // each (each adapter's first lookup misses).
  EXPECT_EQ(ServerStreamCalls(**server), static_cast<double>(sent));
  const nlohmann::json& cache = report["server_cache"];
  ASSERT_TRUE(cache.is_object());
  EXPECT_GE(cache["device_hits"].get<double>() +
                cache["host_hits"].get<double>() +
                cache["misses"].get<double>(),
            static_cast<double>(completed));
  EXPECT_GT(cache["hit_rate"].get<double>(), 0.0);
  // Created adapters are there for the next run.
  const ProcessResult list =
      Cli({"adapters", "list", "--json", "--server", (*server)->address()});
  EXPECT_EQ(ParseJsonOrFail(list.out)["adapters"].size(), 4u);
}

TEST(LoadgenSmokeTest, OpenLoopSendsTheAskedCount) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const ProcessResult r =
      Loadgen({"--server", (*server)->address(), "--rate", "40", "--requests",
               "30", "--vocab-size", "512", "--output-tokens", "2",
               "--base-fraction", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json report = ParseJsonOrFail(r.out);
  ExpectConsistent(report);
  EXPECT_EQ(report["sent"], 30);
  EXPECT_EQ(report["completed"], 30) << report.dump(2);
  EXPECT_EQ(report["requests_by_adapter"]["base"], 30);
  EXPECT_EQ(report["output_tokens"], 60);
  EXPECT_TRUE(report["server_cache"].is_null());
  EXPECT_EQ(ServerStreamCalls(**server), 30.0);
}

TEST(LoadgenSmokeTest, FailedRequestsAreCountedByCode) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const ProcessResult r =
      Loadgen({"--server", (*server)->address(), "--concurrency", "2",
               "--requests", "6", "--adapters", "missing-one", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json report = ParseJsonOrFail(r.out);
  ExpectConsistent(report);
  EXPECT_EQ(report["sent"], 6);
  EXPECT_EQ(report["failed_by_code"]["NOT_FOUND"], 6);
}

TEST(LoadgenSmokeTest, TextReportAndSetupErrors) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const ProcessResult text =
      Loadgen({"--server", (*server)->address(), "--concurrency", "1",
               "--requests", "2", "--output-tokens", "2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out,
              HasSubstr("requests:     2 sent, 2 completed, 0 failed"));
  EXPECT_THAT(text.out, HasSubstr("TTFT ms:"));

  const ProcessResult no_config = Loadgen(
      {"--server", (*server)->address(), "--concurrency", "1", "--requests",
       "1", "--adapters-prefix", "x-", "--create-adapters", "2"});
  EXPECT_EQ(no_config.exit_code, 1);
  EXPECT_THAT(no_config.err, ::testing::StartsWith(
                                 "error: INVALID_ARGUMENT: --create-adapters "
                                 "needs --model-config"));
  const ProcessResult none =
      Loadgen({"--server", (*server)->address(), "--concurrency", "1",
               "--requests", "1", "--adapters-prefix", "nothing-"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("FAILED_PRECONDITION"));
  const ProcessResult bad_metrics =
      Loadgen({"--server", (*server)->address(), "--concurrency", "1",
               "--requests", "1", "--metrics-url", "ftp://x"});
  EXPECT_EQ(bad_metrics.exit_code, 1);
  EXPECT_THAT(bad_metrics.err, HasSubstr("http://"));
}

TEST(LoadgenFlagsTest, UsageErrorsExitTwo) {
  const auto expect_usage = [](const std::vector<std::string>& args,
                               const std::string& message) {
    const ProcessResult r = Loadgen(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(message));
  };
  expect_usage({"--requests", "1"}, "exactly one of --rate");
  expect_usage({"--rate", "1", "--concurrency", "2", "--requests", "1"},
               "exactly one of --rate");
  expect_usage({"--rate", "1"}, "--duration SECONDS or --requests N");
  expect_usage({"--concurrency", "0", "--requests", "1"}, "--concurrency");
  expect_usage(
      {"--concurrency", "1", "--requests", "1", "--prompt-tokens", "9:3"},
      "--prompt-tokens");
  expect_usage(
      {"--concurrency", "1", "--requests", "1", "--base-fraction", "2"},
      "--base-fraction");
  expect_usage({"--concurrency", "1", "--requests", "1", "--adapters", "a",
                "--adapters-prefix", "b"},
               "cannot be combined");
  expect_usage({"--concurrency", "1", "--duration", "-5"}, "--duration");
  expect_usage({"--nope"}, "unknown flag --nope");
  const ProcessResult help = Loadgen({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Usage: loraplex-loadgen"));
}

}  // namespace
}  // namespace loraplex::tools_testing
