#include "service/metrics/metrics_exposer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/server_metrics.h"
#include "tools/metrics_client/http_get.h"

namespace loraplex::service {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

constexpr absl::Duration kSafetyNet = absl::Seconds(60);

// The whole answer to GET `path` (status line, headers, body) as one
// string, or the error.
std::string Get(int port, const std::string& path) {
  absl::StatusOr<metrics_client::HttpResponse> response =
      metrics_client::HttpGet(metrics_client::LoopbackUrl(port, path),
                              kSafetyNet);
  if (!response.ok()) return response.status().ToString();
  return absl::StrCat("HTTP ", response->status_code, "\n", response->body);
}

// A TCP connection to 127.0.0.1:`port` that the test drives byte by byte.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address),
                         sizeof(address)) == 0;
  }
  ~RawConnection() { close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Blocks until the server answers or closes; what it sent ("" if it
  // closed without a word).
  std::string ReadUntilClosed() {
    std::string answer;
    char buffer[4096];
    ssize_t got;
    while ((got = recv(fd_, buffer, sizeof(buffer), 0)) > 0) {
      answer.append(buffer, static_cast<size_t>(got));
    }
    return answer;
  }

 private:
  const int fd_;
  bool connected_ = false;
};

// A client that sends a request a byte at a time, every 20 ms, and never
// finishes it (the header goes on forever), until Stop or until the server
// closes the connection.
class DrippingClient {
 public:
  explicit DrippingClient(int port)
      : connection_(port), thread_([this] { Drip(); }) {}
  ~DrippingClient() { Stop(); }
  // Blocks until `n` bytes went out (false if the connection broke first).
  bool WaitForBytesSent(int n) {
    absl::MutexLock lock(&mu_);
    auto sent_or_broken = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return sent_ >= n || broken_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&sent_or_broken), kSafetyNet);
    return sent_ >= n;
  }
  // Blocks until a send fails: the server closed the connection.
  bool WaitUntilCutOff() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&broken_), kSafetyNet);
  }
  void Stop() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Drip() {
    const std::string request = "GET /metrics HTTP/1.1\r\nX-Drip: ";
    for (size_t i = 0; connection_.connected(); ++i) {
      const char byte = i < request.size() ? request[i] : 'a';
      const bool ok = connection_.Send(std::string(1, byte));
      {
        absl::MutexLock lock(&mu_);
        if (ok)
          ++sent_;
        else
          broken_ = true;
      }
      // The pace of the attack, not a wait for anything.
      if (!ok || stop_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
        return;
      }
    }
  }

  RawConnection connection_;
  absl::Notification stop_;
  absl::Mutex mu_;
  int sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts once the rest exists.
};

TEST(MetricsExposerTest, ServesTheRegistryOverHttp) {
  auto registry = std::make_shared<prometheus::Registry>();
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Create(*registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  std::atomic<int> refreshes{0};
  engine::EngineStats stats;
  stats.queued_requests = 7;
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("127.0.0.1:0", registry, [&] {
        ++refreshes;
        (*metrics)->UpdateEngineStats(stats);
      });
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  ASSERT_NE(*exposer, nullptr);
  const std::vector<int> ports = (*exposer)->listening_ports();
  ASSERT_THAT(ports, SizeIs(1));
  ASSERT_GT(ports[0], 0);

  (*metrics)->RecordRequest(ServerMetrics::Api::kGrpc, "acme", "Generate",
                            absl::StatusCode::kOk);
  const std::string response = Get(ports[0], "/metrics");
  EXPECT_THAT(response, HasSubstr("HTTP 200\n"));
  EXPECT_THAT(response,
              HasSubstr("loraplex_requests_total{api=\"grpc\",code=\"OK\","
                        "rpc=\"Generate\",tenant=\"acme\"} 1"));
  // The gauge was refreshed by the hook just before this scrape.
  EXPECT_THAT(response, HasSubstr("\nloraplex_queued_requests 7\n"));
  EXPECT_EQ(refreshes.load(), 1);
}

TEST(MetricsExposerTest, EmptyAddressDisablesIt) {
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("", std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  EXPECT_EQ(*exposer, nullptr);
}

TEST(MetricsExposerTest, APortInUseIsUnavailableNotAnException) {
  auto registry = std::make_shared<prometheus::Registry>();
  absl::StatusOr<std::unique_ptr<MetricsExposer>> first =
      MetricsExposer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken =
      absl::StrCat("127.0.0.1:", (*first)->listening_ports().at(0));
  absl::StatusOr<std::unique_ptr<MetricsExposer>> second =
      MetricsExposer::Start(taken, registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr("cannot serve metrics on \"" + taken + "\""));
}

TEST(MetricsExposerTest, AMalformedAddressIsUnavailable) {
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("not an address",
                            std::make_shared<prometheus::Registry>());
  EXPECT_EQ(exposer.status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetricsExposerTest, StopsServingWhenDestroyed) {
  auto registry = std::make_shared<prometheus::Registry>();
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->listening_ports().at(0);
  EXPECT_THAT(Get(port, "/metrics"), HasSubstr("HTTP 200\n"));
  exposer->reset();
  EXPECT_THAT(Get(port, "/metrics"), HasSubstr("UNAVAILABLE"));
}

TEST(MetricsExposerTest, OtherPathsAreNotFound) {
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("127.0.0.1:0",
                            std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  EXPECT_THAT(Get((*exposer)->listening_ports().at(0), "/"),
              HasSubstr("HTTP 404\nmetrics are at GET /metrics"));
}

// Issue 14, item 8: one client that drips its request byte by byte (and
// one that connects and says nothing) must not stall anyone's scrape.
TEST(MetricsExposerTest, SlowClientsNeverBlockAnotherScrape) {
  auto registry = std::make_shared<prometheus::Registry>();
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Create(*registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // Long enough that the slow clients are still there for every scrape
  // however slow this machine is.
  HttpServerLimits limits;
  limits.request_deadline = absl::Minutes(10);
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("127.0.0.1:0", registry, nullptr, limits);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->listening_ports().at(0);

  RawConnection silent(port);
  ASSERT_TRUE(silent.connected());
  DrippingClient dripping(port);
  ASSERT_TRUE(dripping.WaitForBytesSent(3));
  for (int scrape = 0; scrape < 3; ++scrape) {
    EXPECT_THAT(Get(port, "/metrics"),
                AllOf(HasSubstr("HTTP 200\n"),
                      HasSubstr("# TYPE loraplex_engine_steps_total counter")));
    ASSERT_TRUE(dripping.WaitForBytesSent(4 + scrape));  // Still dripping.
  }
}

TEST(MetricsExposerTest, AConnectionIsCutOffAtItsDeadlineHoweverItDrips) {
  HttpServerLimits limits;
  limits.request_deadline = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("127.0.0.1:0",
                            std::make_shared<prometheus::Registry>(), nullptr,
                            limits);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->listening_ports().at(0);
  RawConnection silent(port);
  DrippingClient dripping(port);
  // Both end because the server closes them (a per-read timeout would never
  // fire for the dripping one: it sends a byte every 20 ms).
  EXPECT_EQ(silent.ReadUntilClosed(), "");
  EXPECT_TRUE(dripping.WaitUntilCutOff());
  EXPECT_THAT(Get(port, "/metrics"), HasSubstr("HTTP 200\n"));
}

TEST(MetricsExposerTest, AnOversizedRequestIsRefused) {
  absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
      MetricsExposer::Start("127.0.0.1:0",
                            std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->listening_ports().at(0);
  RawConnection client(port);
  std::string request = "GET /metrics HTTP/1.1\r\n";
  while (request.size() < 64 * 1024) request += "X-Filler: abcdefghijkl\r\n";
  // The server may close before it has read it all: a short send is fine.
  client.Send(request + "\r\n");
  EXPECT_THAT(client.ReadUntilClosed(), Not(HasSubstr(" 200 ")));
  EXPECT_THAT(Get(port, "/metrics"), HasSubstr("HTTP 200\n"));
}

}  // namespace
}  // namespace loraplex::service
