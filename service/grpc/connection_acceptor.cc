#include "service/grpc/connection_acceptor.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/grpc/fd_limits.h"

namespace loraplex::service {
namespace {

constexpr absl::Duration kRetryAfterResourceError = absl::Milliseconds(100);
// While over the budget, descriptors are counted again (each count lists
// /proc/self/fd) at most once per ten times what the last count took, and
// at least every 100 ms; connections in between are refused. Counting then
// costs at most a tenth of the accept thread's time, and a connection
// refused although descriptors were freed meanwhile is rare and brief.
constexpr absl::Duration kMinRecountInterval = absl::Milliseconds(1);
constexpr absl::Duration kMaxRecountInterval = absl::Milliseconds(100);
constexpr absl::Duration kWarningInterval = absl::Seconds(10);

struct HostPort {
  std::string host;  // Without brackets; empty = every address.
  std::string port;
};

absl::StatusOr<HostPort> SplitAddress(const std::string& address) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" ", why,
                     " (expected host:port, [ipv6]:port or :port)"));
  };
  HostPort parts;
  size_t colon = 0;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return bad("has no port after the bracketed address");
    }
    parts.host = address.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = address.rfind(':');
    if (colon == std::string::npos) return bad("has no port");
    parts.host = address.substr(0, colon);
  }
  parts.port = address.substr(colon + 1);
  int port = 0;
  if (!absl::SimpleAtoi(parts.port, &port) || port < 0 || port > 65535) {
    return bad("has no valid port");
  }
  return parts;
}

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*";
}

// A listening socket bound to `address`, or the errno of the step that
// failed.
absl::StatusOr<int> BindAndListen(int family, const sockaddr* address,
                                  socklen_t length, bool dual_stack) {
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  const int on = 1;
  const int off = 0;
  // As gRPC's listener: reuse a port in TIME_WAIT, no Nagle delay (accepted
  // sockets inherit it), both IP versions on a wildcard IPv6 socket.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  if (family == AF_INET6 && dual_stack) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (bind(fd, address, length) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, "bind");
  }
  if (listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, "listen");
  }
  return fd;
}

absl::StatusOr<std::vector<int>> ListenOnEveryAddress(int port) {
  sockaddr_in6 any6{};
  any6.sin6_family = AF_INET6;
  any6.sin6_addr = in6addr_any;
  any6.sin6_port = htons(static_cast<uint16_t>(port));
  absl::StatusOr<int> fd =
      BindAndListen(AF_INET6, reinterpret_cast<const sockaddr*>(&any6),
                    sizeof(any6), /*dual_stack=*/true);
  if (!fd.ok()) {
    // No IPv6 here (or no dual stack): IPv4 only.
    sockaddr_in any4{};
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = htons(static_cast<uint16_t>(port));
    fd = BindAndListen(AF_INET, reinterpret_cast<const sockaddr*>(&any4),
                       sizeof(any4), /*dual_stack=*/false);
  }
  if (!fd.ok()) return fd.status();
  return std::vector<int>{*fd};
}

int BoundPort(int fd);

void SetPort(sockaddr* address, int port) {
  if (address->sa_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(address)->sin6_port =
        htons(static_cast<uint16_t>(port));
  } else if (address->sa_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(address)->sin_port =
        htons(static_cast<uint16_t>(port));
  }
}

// Every address `parts.host` resolves to (as gRPC's listener does), on one
// port: with port 0, the one the first bind picked.
absl::StatusOr<std::vector<int>> ListenOnHost(const HostPort& parts) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int resolved =
      getaddrinfo(parts.host.c_str(), parts.port.c_str(), &hints, &found);
  if (resolved != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve \"", parts.host,
                                               "\": ", gai_strerror(resolved)));
  }
  std::vector<int> fds;
  absl::Status last = absl::UnavailableError("no address to listen on");
  int port = 0;
  absl::SimpleAtoi(parts.port, &port);
  for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    SetPort(entry->ai_addr, port);
    absl::StatusOr<int> fd =
        BindAndListen(entry->ai_family, entry->ai_addr, entry->ai_addrlen,
                      /*dual_stack=*/false);
    if (!fd.ok()) {
      last = fd.status();
      continue;
    }
    fds.push_back(*fd);
    port = BoundPort(*fd);
  }
  freeaddrinfo(found);
  if (fds.empty()) return last;
  return fds;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 0;
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

bool IsResourceError(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS ||
         error == ENOMEM;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> ConnectionAcceptor::Listen(
    const Options& options) {
  ASSIGN_OR_RETURN(const HostPort parts, SplitAddress(options.address));
  int port = 0;
  absl::SimpleAtoi(parts.port, &port);
  absl::StatusOr<std::vector<int>> fds =
      IsWildcard(parts.host) ? ListenOnEveryAddress(port) : ListenOnHost(parts);
  if (!fds.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on \"",
                                               options.address,
                                               "\": ", fds.status().message()));
  }
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    const int error = errno;
    for (int fd : *fds) close(fd);
    return absl::ErrnoToStatus(error, "eventfd");
  }
  const int bound_port = BoundPort(fds->front());
  return std::unique_ptr<ConnectionAcceptor>(new ConnectionAcceptor(
      *std::move(fds), wake_fd, bound_port, options.max_open_fds));
}

ConnectionAcceptor::~ConnectionAcceptor() {
  Stop();
  close(wake_fd_);
}

void ConnectionAcceptor::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>
        grpc_acceptor) {
  grpc_acceptor_ = std::move(grpc_acceptor);
  absl::StatusOr<int64_t> open = CountOpenFileDescriptors();
  if (max_open_fds_ > 0 && !open.ok()) {
    LogWarning(
        "connections: cannot count open descriptors (%s); the "
        "descriptor budget is not enforced",
        open.status().ToString());
  }
  open_estimate_ = open.ok() ? *open : 0;
  last_count_ = absl::Now();
  thread_ = std::thread([this] { AcceptLoop(); });
}

void ConnectionAcceptor::Stop() {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // The counter cannot overflow with one write; nothing to do.
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : listen_fds_) close(fd);
  listen_fds_.clear();
}

bool ConnectionAcceptor::WaitForStop(absl::Duration timeout) {
  pollfd wake{wake_fd_, POLLIN, 0};
  poll(&wake, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  return stopped_.load();
}

void ConnectionAcceptor::AcceptLoop() {
  std::vector<pollfd> fds;
  for (int fd : listen_fds_) fds.push_back({fd, POLLIN, 0});
  fds.push_back({wake_fd_, POLLIN, 0});
  while (!stopped_.load()) {
    for (pollfd& entry : fds) entry.revents = 0;
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno != EINTR && WaitForStop(kRetryAfterResourceError)) return;
      continue;
    }
    if (fds.back().revents != 0) return;  // Stop().
    bool short_of_resources = false;
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if (fds[i].revents != 0 && !AcceptPending(fds[i].fd)) {
        short_of_resources = true;
      }
    }
    if (short_of_resources && WaitForStop(kRetryAfterResourceError)) return;
  }
}

bool ConnectionAcceptor::AcceptPending(int listen_fd) {
  while (!stopped_.load()) {
    const int fd =
        accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
      if (error == EAGAIN || error == EWOULDBLOCK) return true;
      const absl::Time now = absl::Now();
      if (now - last_warning_ >= kWarningInterval) {
        last_warning_ = now;
        LogWarning("connections: accept failed (%s); retrying every %s%s",
                   std::strerror(error),
                   absl::FormatDuration(kRetryAfterResourceError),
                   IsResourceError(error) ? " while resources are short" : "");
      }
      return false;
    }
    if (!WithinBudget()) {
      close(fd);
      ++refused_;
      const absl::Time now = absl::Now();
      if (now - last_warning_ >= kWarningInterval) {
        last_warning_ = now;
        LogWarning(
            "connections: refusing new connections: the process has "
            "%d descriptors open, the most client connections may "
            "bring it to (soft RLIMIT_NOFILE minus a reserve); %d "
            "refused so far",
            open_estimate_, refused_.load());
      }
      continue;
    }
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters
        connection;
    connection.listener_fd = listen_fd;
    connection.fd = fd;  // gRPC owns it from here on.
    grpc_acceptor_->HandleNewConnection(&connection);
  }
  return true;
}

bool ConnectionAcceptor::WithinBudget() {
  if (max_open_fds_ <= 0) return true;
  int64_t open = open_estimate_ + 1;  // With the connection just accepted.
  const absl::Time now = absl::Now();
  if (open > max_open_fds_ && now - last_count_ >= recount_interval_) {
    absl::StatusOr<int64_t> counted = CountOpenFileDescriptors();
    last_count_ = absl::Now();
    recount_interval_ = std::clamp((last_count_ - now) * 10,
                                   kMinRecountInterval, kMaxRecountInterval);
    if (!counted.ok()) return true;  // Cannot count: Start() warned.
    open = *counted;                 // Counts the new connection too.
  }
  if (open > max_open_fds_) {
    open_estimate_ = open - 1;  // It is closed again.
    return false;
  }
  open_estimate_ = open;
  return true;
}

}  // namespace loraplex::service
