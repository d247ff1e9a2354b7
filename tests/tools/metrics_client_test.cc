// tools/metrics_client (HTTP GET over cpp-httplib, the Prometheus text
// parser) and the load generator's cache counters built on them.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/loadgen/metrics_scrape.h"
#include "tools/metrics_client/http_get.h"
#include "tools/metrics_client/prometheus_text.h"

namespace loraplex::metrics_client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kExposition[] = R"(# HELP loraplex_requests_total Finished RPCs.
# TYPE loraplex_requests_total counter
loraplex_requests_total{tenant="acme",rpc="Generate",code="OK"} 5
loraplex_requests_total{tenant="a \"quoted\" one",rpc="Generate",code="NOT_FOUND"} 1 1700000000000
loraplex_requests_total{tenant="a b}",rpc="GenerateStream",code="OK"} 2
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
  EXPECT_EQ(metrics->samples().size(), 8u);
  EXPECT_EQ(metrics->samples()[1].labels.at("tenant"), "a \"quoted\" one");
  EXPECT_EQ(metrics->samples()[2].labels.at("tenant"), "a b}");
  EXPECT_EQ(metrics->Sum("loraplex_requests_total"), 8);
  EXPECT_EQ(metrics->Sum("loraplex_requests_total", {{"code", "OK"}}), 7);
  EXPECT_EQ(metrics->Sum("loraplex_requests_total",
                         {{"code", "OK"}, {"rpc", "GenerateStream"}}),
            2);
  EXPECT_EQ(metrics->Sum("loraplex_requests_total", {{"code", "INTERNAL"}}),
            std::nullopt);
  EXPECT_EQ(metrics->Sum("absent_total"), std::nullopt);
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
      ScrapedMetrics::Parse("a_bucket{le=\"+Inf\"} +Inf\nb NaN\nc -Inf\n");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(std::isinf(metrics->samples()[0].value));
  EXPECT_TRUE(std::isnan(metrics->samples()[1].value));
  EXPECT_LT(metrics->samples()[2].value, 0);
}

TEST(ScrapedMetricsTest, RejectsMalformedLinesNamingThem) {
  const std::pair<const char*, const char*> cases[] = {
      {"x{a=\"1\"} 1\n9bad 1\n", "line 2: no metric name"},
      {"# c\nok 1\nbroken_line\n", "line 3: bad value"},
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

// A one-shot HTTP server on 127.0.0.1: reads the first connection's request
// head, answers it with `answer` and closes it (or, when `answer` is
// empty, holds it open unanswered until the test ends).
class OneShotHttpServer {
 public:
  explicit OneShotHttpServer(std::string answer) : answer_(std::move(answer)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), length), 0);
    EXPECT_EQ(listen(listen_fd_, 1), 0);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotHttpServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    const int client = client_fd_.load();
    if (client >= 0) shutdown(client, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
    if (client >= 0) close(client);
  }
  std::string url(const std::string& path) const {
    return LoopbackUrl(port_, path);
  }
  // The request head; read it after the client call returned.
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    const int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) return;
    client_fd_ = client;
    char buffer[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      const ssize_t got = read(client, buffer, sizeof(buffer));
      if (got <= 0) return;
      request_.append(buffer, static_cast<size_t>(got));
    }
    if (answer_.empty()) {  // Hold it: read until the client gives up.
      while (read(client, buffer, sizeof(buffer)) > 0) {
      }
      return;
    }
    (void)!write(client, answer_.data(), answer_.size());
    shutdown(client, SHUT_WR);
  }

  const std::string answer_;
  int listen_fd_ = -1;
  std::atomic<int> client_fd_{-1};
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(HttpGetTest, ReturnsStatusAndBody) {
  OneShotHttpServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\nno such page");
  absl::StatusOr<HttpResponse> response =
      HttpGet(server.url("/missing?q=1"), absl::Seconds(60));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code, 404);
  EXPECT_EQ(response->body, "no such page");
  EXPECT_THAT(server.request(), HasSubstr("GET /missing?q=1 HTTP/1.1\r\n"));
}

TEST(HttpGetTest, BodyOfA200UntilTheServerCloses) {
  OneShotHttpServer server(
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello metrics");
  absl::StatusOr<std::string> body =
      HttpGetBody(server.url("/metrics"), absl::Seconds(60));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hello metrics");
}

TEST(HttpGetTest, OtherStatusIsFailedPreconditionForTheBody) {
  OneShotHttpServer server("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
  absl::StatusOr<std::string> body =
      HttpGetBody(server.url("/x"), absl::Seconds(60));
  EXPECT_EQ(body.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(body.status().message(), HasSubstr("503"));
}

TEST(HttpGetTest, ASilentServerIsUnavailableAfterTheTimeout) {
  OneShotHttpServer server("");
  absl::StatusOr<HttpResponse> response =
      HttpGet(server.url("/metrics"), absl::Milliseconds(200));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpGetTest, ATruncatedOrNonHttpAnswerIsUnavailable) {
  for (const char* answer : {"HTTP/1.1 200 OK\r\nContent-", "SSH-2.0-x\r\n"}) {
    OneShotHttpServer server(answer);
    EXPECT_EQ(HttpGet(server.url("/"), absl::Seconds(60)).status().code(),
              absl::StatusCode::kUnavailable)
        << answer;
  }
}

TEST(HttpGetTest, NothingListeningIsUnavailable) {
  std::string url;
  {
    OneShotHttpServer probe("HTTP/1.0 200 OK\r\n\r\n");
    url = probe.url("/metrics");
    ASSERT_TRUE(HttpGet(url, absl::Seconds(60)).ok());
  }  // Closed: nothing listens on the port now.
  absl::StatusOr<HttpResponse> response = HttpGet(url, absl::Seconds(60));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("GET " + url));
}

TEST(HttpGetTest, RejectsUrlsThatAreNotPlainHttpWithAPort) {
  for (const char* url :
       {"https://127.0.0.1:1/metrics", "http:///metrics", "http://:80/",
        "http://localhost/metrics", "http://[::1]/x", "ftp://h:1/"}) {
    EXPECT_EQ(HttpGet(url, absl::Seconds(1)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << url;
  }
}

TEST(UrlEncodeTest, KeepsUnreservedOnly) {
  EXPECT_EQ(UrlEncode("sum(a{b=\"c d\"})-_.~"),
            "sum%28a%7Bb%3D%22c%20d%22%7D%29-_.~");
}

TEST(ScrapeCacheCountersTest, ReadsTiersAndMisses) {
  OneShotHttpServer server(
      "HTTP/1.0 200 OK\r\n\r\n"
      "loraplex_adapter_cache_hits_total{tier=\"device\"} 12\n"
      "loraplex_adapter_cache_hits_total{tier=\"host\"} 3\n"
      "loraplex_adapter_cache_misses_total 5\n");
  absl::StatusOr<loadgen::CacheCounters> counters =
      loadgen::ScrapeCacheCounters(server.url("/metrics"), absl::Seconds(60));
  ASSERT_TRUE(counters.ok()) << counters.status();
  EXPECT_DOUBLE_EQ(counters->device_hits, 12);
  EXPECT_DOUBLE_EQ(counters->host_hits, 3);
  EXPECT_DOUBLE_EQ(counters->misses, 5);
  const loadgen::CacheCounters delta =
      loadgen::CounterDelta(loadgen::CacheCounters{2, 1, 1}, *counters);
  EXPECT_DOUBLE_EQ(delta.device_hits, 10);
  EXPECT_DOUBLE_EQ(delta.host_hits, 2);
  EXPECT_DOUBLE_EQ(delta.misses, 4);
  EXPECT_DOUBLE_EQ(*delta.hit_rate(), 12.0 / 16);
}

TEST(ScrapeCacheCountersTest, CountersNotExportedYetCountZero) {
  absl::StatusOr<ScrapedMetrics> metrics = ScrapedMetrics::Parse("");
  ASSERT_TRUE(metrics.ok());
  const loadgen::CacheCounters counters = loadgen::CacheCountersOf(*metrics);
  EXPECT_EQ(counters.lookups(), 0);
}

TEST(ScrapeCacheCountersTest, MalformedMetricsAreInvalidArgument) {
  OneShotHttpServer server("HTTP/1.0 200 OK\r\n\r\nnot metrics at all\n");
  EXPECT_EQ(
      loadgen::ScrapeCacheCounters(server.url("/metrics"), absl::Seconds(60))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loraplex::metrics_client
