#include "service/metrics/metrics_exposer.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "prometheus/text_serializer.h"

namespace loraplex::service {
namespace {

constexpr int kRequestTimeoutMs = 2000;
constexpr size_t kMaxRequestBytes = 16 * 1024;

absl::Status Unavailable(const std::string& address, const std::string& why) {
  return absl::UnavailableError(
      absl::StrCat("cannot serve metrics on \"", address, "\": ", why));
}

// Splits "host:port", "[v6]:port" or "port" (all interfaces).
bool SplitHostPort(const std::string& address, std::string* host,
                   std::string* port) {
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) return false;
    *host = address.substr(1, close - 1);
    *port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      *host = "0.0.0.0";
      *port = address;
    } else {
      *host = address.substr(0, colon);
      *port = address.substr(colon + 1);
    }
  }
  int value = 0;
  return !host->empty() && absl::SimpleAtoi(*port, &value) && value >= 0 &&
         value <= 65535;
}

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // The scraper went away; nothing to report.
    done += static_cast<size_t>(n);
  }
}

std::string HttpResponse(const char* status, const char* content_type,
                         const std::string& body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& listen_address,
    std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_scrape) {
  if (listen_address.empty()) return nullptr;
  std::string host, port;
  if (!SplitHostPort(listen_address, &host, &port)) {
    return Unavailable(listen_address, "expected host:port, [v6]:port or port");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (gai != 0) return Unavailable(listen_address, ::gai_strerror(gai));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(
      found, &::freeaddrinfo);

  std::string last_error = "no usable address";
  for (addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
    const int bound_port =
        bound.ss_family == AF_INET6
            ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    const int wake = ::eventfd(0, EFD_CLOEXEC);
    if (wake < 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      break;
    }
    return std::unique_ptr<MetricsExposer>(new MetricsExposer(
        fd, wake, bound_port, std::move(registry), std::move(before_scrape)));
  }
  return Unavailable(listen_address, last_error);
}

MetricsExposer::MetricsExposer(int listen_fd, int wake_fd, int port,
                               std::shared_ptr<prometheus::Registry> registry,
                               std::function<void()> before_scrape)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      registry_(std::move(registry)),
      before_scrape_(std::move(before_scrape)) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsExposer::~MetricsExposer() {
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

std::vector<int> MetricsExposer::listening_ports() const { return {port_}; }

void MetricsExposer::Serve() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (true) {
    const int ready = ::poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      LogError("metrics http: poll failed: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    HandleConnection(client);
    ::close(client);
  }
}

void MetricsExposer::HandleConnection(int fd) {
  // Read the request head; a scraper that stalls is dropped after the
  // timeout so it cannot hold the (only) HTTP thread.
  std::string request;
  char buffer[2048];
  while (!absl::StrContains(request, "\r\n\r\n") &&
         request.size() < kMaxRequestBytes) {
    pollfd in = {fd, POLLIN, 0};
    if (::poll(&in, 1, kRequestTimeoutMs) <= 0) return;
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  const size_t line_end = request.find("\r\n");
  const std::string line = request.substr(0, line_end);
  // "GET /metrics HTTP/1.1", query strings allowed.
  const size_t space = line.find(' ');
  const std::string method = line.substr(0, space);
  std::string target = space == std::string::npos ? "" : line.substr(space + 1);
  target = target.substr(0, target.find(' '));
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    WriteAll(fd, HttpResponse("405 Method Not Allowed", "text/plain",
                              "only GET /metrics\n"));
    return;
  }
  if (target != "/metrics") {
    WriteAll(fd, HttpResponse("404 Not Found", "text/plain",
                              "metrics are at /metrics\n"));
    return;
  }
  std::string response = HttpResponse(
      "200 OK", "text/plain; version=0.0.4; charset=utf-8", RenderMetrics());
  if (method == "HEAD")
    response = response.substr(0, response.find("\r\n\r\n") + 4);
  WriteAll(fd, response);
}

std::string MetricsExposer::RenderMetrics() {
  if (before_scrape_) before_scrape_();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace loraplex::service
