#include "tools/loadgen/metrics_scrape.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loraplex::loadgen {
namespace {

using ::testing::HasSubstr;

constexpr char kMetricsText[] =
    "# HELP loraplex_adapter_cache_hits_total Adapter cache hits.\n"
    "# TYPE loraplex_adapter_cache_hits_total counter\n"
    "loraplex_adapter_cache_hits_total{tier=\"device\"} 12\n"
    "loraplex_adapter_cache_hits_total{tier=\"host\"} 3\n"
    "loraplex_adapter_cache_misses_total 5\n"
    "loraplex_requests_total{tenant=\"a b\",rpc=\"Generate\",code=\"OK\"} 7 "
    "1700000000000\n"
    "loraplex_requests_total{tenant=\"q\\\"x\",rpc=\"GenerateStream\","
    "code=\"OK\"} 2\n"
    "loraplex_request_duration_seconds_bucket{le=\"+Inf\"} 9\n";

TEST(ParsePrometheusTextTest, ParsesNamesLabelsAndValues) {
  absl::StatusOr<std::vector<MetricSample>> samples =
      ParsePrometheusText(kMetricsText);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 6u);
  EXPECT_EQ((*samples)[0].name, "loraplex_adapter_cache_hits_total");
  EXPECT_EQ((*samples)[0].labels.at("tier"), "device");
  EXPECT_DOUBLE_EQ((*samples)[0].value, 12);
  EXPECT_EQ((*samples)[3].labels.at("tenant"), "a b");
  EXPECT_DOUBLE_EQ((*samples)[3].value, 7);
  EXPECT_EQ((*samples)[4].labels.at("tenant"), "q\"x");
  EXPECT_EQ((*samples)[5].labels.at("le"), "+Inf");
}

TEST(ParsePrometheusTextTest, RejectsMalformedLinesNamingThem) {
  absl::StatusOr<std::vector<MetricSample>> no_value =
      ParsePrometheusText("# c\nok 1\nbroken_line\n");
  EXPECT_EQ(no_value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_value.status().message(), HasSubstr("line 3"));
  EXPECT_EQ(ParsePrometheusText("x{a=\"1\" 2\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ParsePrometheusText("x abc\n").status().message(),
              HasSubstr("not a number"));
}

TEST(SumSamplesTest, FiltersByNameAndLabels) {
  absl::StatusOr<std::vector<MetricSample>> samples =
      ParsePrometheusText(kMetricsText);
  ASSERT_TRUE(samples.ok());
  EXPECT_DOUBLE_EQ(SumSamples(*samples, "loraplex_adapter_cache_hits_total"),
                   15);
  EXPECT_DOUBLE_EQ(SumSamples(*samples, "loraplex_adapter_cache_hits_total",
                              {{"tier", "host"}}),
                   3);
  EXPECT_DOUBLE_EQ(SumSamples(*samples, "loraplex_requests_total",
                              {{"rpc", "GenerateStream"}}),
                   2);
  EXPECT_DOUBLE_EQ(SumSamples(*samples, "absent_total"), 0);
}

// A one-shot HTTP server on 127.0.0.1: answers the first connection with
// `answer` (or, when `answer` is empty, holds it open without answering
// until the test ends) and remembers the request.
class OneShotHttpServer {
 public:
  explicit OneShotHttpServer(std::string answer) : answer_(std::move(answer)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 1);
    socklen_t length = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotHttpServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    if (client_fd_ >= 0) shutdown(client_fd_, SHUT_RDWR);
    thread_.join();
    if (client_fd_ >= 0) close(client_fd_);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    client_fd_ = accept(listen_fd_, nullptr, nullptr);
    if (client_fd_ < 0) return;
    char buffer[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      const ssize_t got = read(client_fd_, buffer, sizeof(buffer));
      if (got <= 0) return;
      request_.append(buffer, static_cast<size_t>(got));
    }
    if (answer_.empty()) {
      while (read(client_fd_, buffer, sizeof(buffer)) > 0) {
      }
      return;
    }
    (void)!write(client_fd_, answer_.data(), answer_.size());
    shutdown(client_fd_, SHUT_WR);
  }

  std::string answer_;
  int listen_fd_ = -1;
  std::atomic<int> client_fd_{-1};
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(HttpGetTest, ReturnsTheBodyOfA200) {
  OneShotHttpServer server(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello metrics");
  absl::StatusOr<std::string> body =
      HttpGet(server.url("/metrics"), absl::Seconds(5));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hello metrics");
  EXPECT_THAT(server.request(), HasSubstr("GET /metrics HTTP/1.0\r\n"));
}

TEST(HttpGetTest, OtherStatusIsFailedPrecondition) {
  OneShotHttpServer server("HTTP/1.1 404 Not Found\r\n\r\nnope");
  absl::StatusOr<std::string> body =
      HttpGet(server.url("/x"), absl::Seconds(5));
  EXPECT_EQ(body.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(body.status().message(), HasSubstr("404"));
}

TEST(HttpGetTest, SilentServerTimesOut) {
  OneShotHttpServer server("");
  absl::StatusOr<std::string> body =
      HttpGet(server.url("/metrics"), absl::Milliseconds(300));
  EXPECT_EQ(body.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HttpGetTest, TruncatedAnswerIsUnavailable) {
  OneShotHttpServer server("HTTP/1.1 200 OK\r\nContent-");
  EXPECT_EQ(HttpGet(server.url("/"), absl::Seconds(5)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(HttpGetTest, NothingListeningIsUnavailable) {
  int port = 0;
  {
    OneShotHttpServer probe("HTTP/1.0 200 OK\r\n\r\n");
    const std::string url = probe.url("");
    port = std::stoi(url.substr(url.rfind(':') + 1));
    ASSERT_TRUE(HttpGet(url, absl::Seconds(5)).ok());
  }  // Closed: nothing listens on the port now.
  absl::StatusOr<std::string> body =
      HttpGet("http://127.0.0.1:" + std::to_string(port) + "/metrics",
              absl::Seconds(5));
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(body.status().message(), HasSubstr("cannot connect"));
}

TEST(HttpGetTest, RejectsUrlsThatAreNotPlainHttp) {
  EXPECT_EQ(
      HttpGet("https://127.0.0.1:1/metrics", absl::Seconds(1)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpGet("http:///metrics", absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ScrapeCacheCountersTest, ReadsTiersAndMisses) {
  OneShotHttpServer server(std::string("HTTP/1.0 200 OK\r\n\r\n") +
                           kMetricsText);
  absl::StatusOr<CacheCounters> counters =
      ScrapeCacheCounters(server.url("/metrics"), absl::Seconds(5));
  ASSERT_TRUE(counters.ok()) << counters.status();
  EXPECT_DOUBLE_EQ(counters->device_hits, 12);
  EXPECT_DOUBLE_EQ(counters->host_hits, 3);
  EXPECT_DOUBLE_EQ(counters->misses, 5);
  const CacheCounters delta = CounterDelta(CacheCounters{2, 1, 1}, *counters);
  EXPECT_DOUBLE_EQ(delta.device_hits, 10);
  EXPECT_DOUBLE_EQ(delta.host_hits, 2);
  EXPECT_DOUBLE_EQ(delta.misses, 4);
  EXPECT_DOUBLE_EQ(*delta.hit_rate(), 12.0 / 16);
}

TEST(ScrapeCacheCountersTest, MalformedMetricsAreInvalidArgument) {
  OneShotHttpServer server("HTTP/1.0 200 OK\r\n\r\nnot metrics at all\n");
  EXPECT_EQ(ScrapeCacheCounters(server.url("/metrics"), absl::Seconds(5))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loraplex::loadgen
