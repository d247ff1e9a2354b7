#include "service/metrics/metrics_exposer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/server_metrics.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// A minimal HTTP/1.0 GET over a plain socket; returns the whole response
// (status line, headers, body), or "" if the connection failed.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return "";
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
      0) {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t got;
      while ((got = read(fd, buffer, sizeof(buffer))) > 0) {
        response.append(buffer, static_cast<size_t>(got));
      }
    }
  }
  close(fd);
  return response;
}

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

  (*metrics)->RecordRequest("acme", "Generate", absl::StatusCode::kOk);
  const std::string response = HttpGet(ports[0], "/metrics");
  EXPECT_THAT(response, HasSubstr("200 OK"));
  EXPECT_THAT(response, HasSubstr("loraplex_requests_total{code=\"OK\","
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
  EXPECT_THAT(HttpGet(port, "/metrics"), HasSubstr("200 OK"));
  exposer->reset();
  EXPECT_EQ(HttpGet(port, "/metrics"), "");
}

}  // namespace
}  // namespace loraplex::service
