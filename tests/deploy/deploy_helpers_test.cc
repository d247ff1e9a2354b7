// Tests of the deployment tests' own helpers: exposition parsing, PromQL
// reference extraction, the loopback HTTP client and child processes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/deploy/child_process.h"
#include "tests/deploy/loopback_http.h"
#include "tests/deploy/prometheus_text.h"
#include "tests/deploy/promql_references.h"

namespace loraplex::deploy_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kExposition[] = R"(# HELP loraplex_requests_total Finished RPCs.
# TYPE loraplex_requests_total counter
loraplex_requests_total{tenant="acme",rpc="Generate",code="OK"} 5
loraplex_requests_total{tenant="a \"quoted\" one",rpc="Generate",code="NOT_FOUND"} 1 1700000000000
# TYPE loraplex_request_duration_seconds histogram
loraplex_request_duration_seconds_bucket{le="0.5"} 2
loraplex_request_duration_seconds_bucket{le="+Inf"} 3
loraplex_request_duration_seconds_sum 1.25
loraplex_request_duration_seconds_count 3
# TYPE loraplex_unused_seconds summary
# TYPE loraplex_kv_slots_in_use gauge
loraplex_kv_slots_in_use 0
)";

TEST(ScrapedMetricsTest, ParsesSamplesLabelsAndFamilies) {
  absl::StatusOr<ScrapedMetrics> metrics = ScrapedMetrics::Parse(kExposition);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->samples().size(), 7u);
  EXPECT_EQ(metrics->samples()[1].labels.at("tenant"), "a \"quoted\" one");
  EXPECT_EQ(metrics->Sum("loraplex_requests_total"), 6);
  EXPECT_EQ(metrics->Sum("loraplex_requests_total", {{"code", "OK"}}), 5);
  EXPECT_EQ(metrics->Sum("loraplex_requests_total", {{"code", "INTERNAL"}}),
            std::nullopt);
  EXPECT_EQ(metrics->Sum("loraplex_request_duration_seconds_sum"), 1.25);
  EXPECT_THAT(metrics->LabelNames("loraplex_requests_total"),
              UnorderedElementsAre("tenant", "rpc", "code"));
  EXPECT_THAT(metrics->LabelNames("loraplex_request_duration_seconds_bucket"),
              ElementsAre("le"));
  EXPECT_EQ(metrics->family_types().at("loraplex_request_duration_seconds"),
            "histogram");
}

TEST(ScrapedMetricsTest, SeriesNamesIncludeHistogramAndSummaryParts) {
  absl::StatusOr<ScrapedMetrics> metrics = ScrapedMetrics::Parse(kExposition);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::set<std::string> names = metrics->SeriesNames();
  for (const char* name :
       {"loraplex_requests_total", "loraplex_request_duration_seconds_bucket",
        "loraplex_request_duration_seconds_count", "loraplex_unused_seconds",
        "loraplex_unused_seconds_sum", "loraplex_kv_slots_in_use"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
  EXPECT_FALSE(names.count("loraplex_request_duration_seconds"));
}

TEST(ScrapedMetricsTest, ParsesSpecialValues) {
  absl::StatusOr<ScrapedMetrics> metrics =
      ScrapedMetrics::Parse("a_bucket{le=\"+Inf\"} +Inf\nb NaN\n");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(std::isinf(metrics->samples()[0].value));
  EXPECT_TRUE(std::isnan(metrics->samples()[1].value));
}

TEST(ScrapedMetricsTest, RejectsMalformedLines) {
  const std::pair<const char*, const char*> cases[] = {
      {"x{a=\"1\"} 1\n9bad 1\n", "line 2: no metric name"},
      {"x{a=\"unterminated} 1\n", "line 1: bad labels"},
      {"x{a=1} 1\n", "line 1: bad labels"},
      {"x\n", "line 1: bad value"},
      {"x one\n", "line 1: bad value"},
      {"x 1 2 3\n", "line 1: bad value"},
      {"# TYPE x\n", "line 1: malformed TYPE"},
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<ScrapedMetrics> metrics = ScrapedMetrics::Parse(text);
    ASSERT_FALSE(metrics.ok()) << text;
    EXPECT_EQ(metrics.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(metrics.status().message(), HasSubstr(message)) << text;
  }
}

TEST(PromqlReferencesTest, FindsMetricsSelectorsAndGrouping) {
  const PromqlReferences refs = FindPromqlReferences(
      "histogram_quantile(0.99, sum by (le, tenant) (rate("
      "loraplex_ttft_seconds_bucket{instance=~\"$instance\", code!=\"OK\"}"
      "[$__rate_interval]))) / on (job) group_left sum(loraplex_x_total)",
      "loraplex_");
  EXPECT_THAT(refs.metrics, UnorderedElementsAre("loraplex_ttft_seconds_bucket",
                                                 "loraplex_x_total"));
  EXPECT_THAT(refs.selector_labels.at("loraplex_ttft_seconds_bucket"),
              UnorderedElementsAre("instance", "code"));
  EXPECT_THAT(refs.grouping_labels,
              UnorderedElementsAre("le", "tenant", "job"));
  EXPECT_THAT(refs.recorded, IsEmpty());
}

TEST(PromqlReferencesTest, IgnoresStringsFunctionsVariablesAndOtherPrefixes) {
  const PromqlReferences refs = FindPromqlReferences(
      "label_replace(up{job=\"loraplex_not_a_metric\"}, \"x\", '$1', "
      "'loraplex_in_quotes', \"(.*)\") and ${loraplex_variable} > 0 and "
      "loraplex:requests:rate5m offset 5m",
      "loraplex_");
  EXPECT_THAT(refs.metrics, IsEmpty());
  EXPECT_THAT(refs.recorded, ElementsAre("loraplex:requests:rate5m"));
  EXPECT_THAT(refs.selector_labels, IsEmpty());  // up is not a loraplex series.
}

TEST(LoopbackHttpTest, UrlEncodeKeepsUnreservedOnly) {
  EXPECT_EQ(UrlEncode("sum(a{b=\"c d\"})-_.~"),
            "sum%28a%7Bb%3D%22c%20d%22%7D%29-_.~");
}

TEST(LoopbackHttpTest, NothingListeningIsUnavailable) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  absl::StatusOr<HttpResponse> response = HttpGet(*port, "/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("connect 127.0.0.1:"));
}

// Serves one connection with `reply`, then closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::string reply) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(fd_, 1);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, reply = std::move(reply)] {
      const int client = accept(fd_, nullptr, nullptr);
      char buffer[1024];
      recv(client, buffer, sizeof(buffer), 0);
      send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
      close(client);
    });
  }
  ~OneShotServer() {
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(LoopbackHttpTest, ReturnsStatusAndBody) {
  OneShotServer server("HTTP/1.0 404 Not Found\r\nX: y\r\n\r\nno such page");
  absl::StatusOr<HttpResponse> response = HttpGet(server.port(), "/missing");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code, 404);
  EXPECT_EQ(response->body, "no such page");
}

TEST(LoopbackHttpTest, NonHttpReplyIsDataLoss) {
  OneShotServer server("SSH-2.0-OpenSSH\r\n");
  absl::StatusOr<HttpResponse> response = HttpGet(server.port(), "/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(response.status().message(), HasSubstr("not an HTTP response"));
}

TEST(LoopbackHttpTest, BadStatusLineIsDataLoss) {
  OneShotServer server("HTTP/1.0 abc\r\n\r\n");
  absl::StatusOr<HttpResponse> response = HttpGet(server.port(), "/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(response.status().message(), HasSubstr("bad HTTP status line"));
}

std::string LogPath(const std::string& name) {
  return ::testing::TempDir() + "/deploy_helpers_" + name + ".log";
}

TEST(ChildProcessTest, MissingExecutableIsNotFound) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({"/nonexistent/server"}, LogPath("missing"));
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(child.status().message(), HasSubstr("/nonexistent/server"));
}

TEST(ChildProcessTest, CapturesOutputAndExitCode) {
  const std::string log = LogPath("exit");
  std::remove(log.c_str());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}, log);
  ASSERT_TRUE(child.ok()) << child.status();
  while ((*child)->Running()) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ((*child)->Describe(), "exited with code 3");
  const absl::Status stopped = (*child)->Stop(absl::Seconds(1));
  EXPECT_EQ(stopped.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stopped.message(), HasSubstr("exited with code 3"));
  EXPECT_EQ(TailOfFile(log), "hello\noops\n");
  EXPECT_EQ(TailOfFile(log, 5), "oops\n");
}

TEST(ChildProcessTest, StopEndsAChildThatExitsOnSigterm) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"},
      LogPath("term"));
  ASSERT_TRUE(child.ok()) << child.status();
  absl::SleepFor(absl::Milliseconds(100));  // Let the shell set its trap.
  EXPECT_TRUE((*child)->Running());
  EXPECT_TRUE((*child)->Stop(absl::Seconds(5)).ok());
  EXPECT_FALSE((*child)->Running());
}

TEST(ChildProcessTest, StopKillsAChildThatIgnoresSigterm) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"},
      LogPath("kill"));
  ASSERT_TRUE(child.ok()) << child.status();
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Status stopped = (*child)->Stop(absl::Milliseconds(300));
  EXPECT_EQ(stopped.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(stopped.message(), HasSubstr("ignored SIGTERM"));
  EXPECT_EQ((*child)->Describe(), "killed by signal 9");
}

}  // namespace
}  // namespace loraplex::deploy_test
