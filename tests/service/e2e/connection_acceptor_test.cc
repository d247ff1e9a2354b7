// ConnectionAcceptor (Note [Accepting connections] in
// service/grpc/connection_acceptor.h) without gRPC: the address forms it
// listens on, and the descriptor budget, with a fake in gRPC's place that
// keeps or closes what it is handed.
#include "service/grpc/connection_acceptor.h"

#include <grpcpp/server_builder.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/grpc/fd_limits.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;

// Stands in for gRPC: keeps the connections it is handed open until told.
class FakeGrpc final : public grpc::experimental::ExternalConnectionAcceptor {
 public:
  struct State {
    absl::Mutex mu;
    std::vector<int> fds ABSL_GUARDED_BY(mu);
    int handed ABSL_GUARDED_BY(mu) = 0;
  };
  explicit FakeGrpc(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void HandleNewConnection(NewConnectionParameters* p) override {
    absl::MutexLock lock(&state_->mu);
    state_->fds.push_back(p->fd);
    ++state_->handed;
  }

 private:
  std::shared_ptr<State> state_;
};

int Handed(FakeGrpc::State& state) {
  absl::MutexLock lock(&state.mu);
  return state.handed;
}
bool AwaitHanded(FakeGrpc::State& state, int count) {
  absl::MutexLock lock(&state.mu);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu) {
    return state.handed >= count;
  };
  return state.mu.AwaitWithTimeout(absl::Condition(&reached),
                                   absl::Seconds(60));
}
void CloseHanded(FakeGrpc::State& state) {
  absl::MutexLock lock(&state.mu);
  for (int fd : state.fds) close(fd);
  state.fds.clear();
}

// A TCP connection to `port` on IPv4 (or IPv6) loopback; -1 on failure.
int Connect(int port, bool ipv6 = false) {
  const int fd =
      socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int result = -1;
  if (ipv6) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(static_cast<uint16_t>(port));
    address.sin6_addr = in6addr_loopback;
    result =
        connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    result =
        connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  }
  if (result != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool HasIpv6Loopback() {
  const int fd = Connect(1, /*ipv6=*/true);  // Refused, or unreachable.
  const bool refused = fd < 0 && errno == ECONNREFUSED;
  if (fd >= 0) close(fd);
  return refused;
}

std::unique_ptr<ConnectionAcceptor> Started(
    const ConnectionAcceptor::Options& options,
    const std::shared_ptr<FakeGrpc::State>& state) {
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> acceptor =
      ConnectionAcceptor::Listen(options);
  EXPECT_TRUE(acceptor.ok()) << options.address << ": " << acceptor.status();
  if (!acceptor.ok()) return nullptr;
  (*acceptor)->Start(std::make_unique<FakeGrpc>(state));
  return *std::move(acceptor);
}

TEST(ConnectionAcceptorTest, ListensOnWildcardNumericAndNamedAddresses) {
  const bool ipv6 = HasIpv6Loopback();
  struct Case {
    const char* address;
    bool v4;  // Reachable on 127.0.0.1.
    bool v6;  // Reachable on ::1 (where the host has IPv6).
  };
  for (const Case& c :
       {Case{"0.0.0.0:0", true, true}, Case{":0", true, true},
        Case{"[::]:0", true, true}, Case{"127.0.0.1:0", true, false},
        Case{"localhost:0", true, false}, Case{"[::1]:0", false, true}}) {
    SCOPED_TRACE(c.address);
    if (!c.v4 && !ipv6) continue;
    auto state = std::make_shared<FakeGrpc::State>();
    std::unique_ptr<ConnectionAcceptor> acceptor =
        Started({c.address, /*max_open_fds=*/0}, state);
    ASSERT_NE(acceptor, nullptr);
    ASSERT_GT(acceptor->port(), 0);
    int expected = 0;
    for (const bool on_ipv6 : {false, true}) {
      if (on_ipv6 ? !(c.v6 && ipv6) : !c.v4) continue;
      const int fd = Connect(acceptor->port(), on_ipv6);
      ASSERT_GE(fd, 0) << (on_ipv6 ? "::1: " : "127.0.0.1: ")
                       << std::strerror(errno);
      EXPECT_TRUE(AwaitHanded(*state, ++expected));
      close(fd);
    }
    acceptor->Stop();
    CloseHanded(*state);
  }
}

TEST(ConnectionAcceptorTest, BadAddressesAreRefused) {
  for (const char* address : {"no-port", "127.0.0.1:", "127.0.0.1:http",
                              "127.0.0.1:70000", "[::1]", "[::1]x0"}) {
    absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> acceptor =
        ConnectionAcceptor::Listen({address, 0});
    EXPECT_EQ(acceptor.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
    EXPECT_THAT(acceptor.status().message(), HasSubstr(address));
  }
  EXPECT_EQ(
      ConnectionAcceptor::Listen({"no-such-host.invalid:0", 0}).status().code(),
      absl::StatusCode::kUnavailable);
}

// Client connections the server closed (readable: the fake never writes).
int CountClosed(const std::vector<int>& fds) {
  int closed = 0;
  for (int fd : fds) {
    pollfd entry{fd, POLLIN, 0};
    char byte = 0;
    if (poll(&entry, 1, 0) > 0 && recv(fd, &byte, 1, MSG_DONTWAIT) <= 0) {
      ++closed;
    }
  }
  return closed;
}

// Waits (polling the sockets, a minute at most) until the acceptor has
// decided about each of `fds`: handed over or closed. The number closed,
// or -1.
int AwaitDecisions(const std::vector<int>& fds, FakeGrpc::State& state,
                   int handed_before) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    const int closed = CountClosed(fds);
    if (closed + Handed(state) - handed_before ==
        static_cast<int>(fds.size())) {
      return closed;
    }
    std::vector<pollfd> entries;
    for (int fd : fds) entries.push_back({fd, POLLIN, 0});
    poll(entries.data(), entries.size(), 10);
  }
  return -1;
}

// Note [File descriptor budget]: beyond the budget a connection is closed
// at once; once descriptors are free again connections are handed over
// again.
TEST(ConnectionAcceptorTest, ConnectionsBeyondTheBudgetAreClosedAtOnce) {
  auto state = std::make_shared<FakeGrpc::State>();
  absl::StatusOr<int64_t> open = CountOpenFileDescriptors();
  ASSERT_TRUE(open.ok()) << open.status();
  // The listening socket and the eventfd, then room for six more.
  std::unique_ptr<ConnectionAcceptor> acceptor =
      Started({"127.0.0.1:0", *open + 2 + 6}, state);
  ASSERT_NE(acceptor, nullptr);
  std::vector<int> clients;
  for (int i = 0; i < 10; ++i) {
    const int fd = Connect(acceptor->port());
    ASSERT_GE(fd, 0);
    clients.push_back(fd);
  }
  const int closed = AwaitDecisions(clients, *state, 0);
  ASSERT_GE(closed, 0) << "some connections were neither handed nor closed";
  EXPECT_GT(closed, 0);
  EXPECT_GT(Handed(*state), 0);
  EXPECT_LE(Handed(*state), 6);
  EXPECT_EQ(acceptor->refused_connections(), closed);

  // Free everything: a new connection is handed over again (after at most
  // one recount interval; until then the client retries, as real ones do).
  for (int fd : clients) close(fd);
  CloseHanded(*state);
  bool taken = false;
  for (int attempt = 0; attempt < 1000 && !taken; ++attempt) {
    const int handed = Handed(*state);
    const int fd = Connect(acceptor->port());
    ASSERT_GE(fd, 0);
    const int refused = AwaitDecisions({fd}, *state, handed);
    ASSERT_GE(refused, 0);
    taken = refused == 0;
    close(fd);
  }
  EXPECT_TRUE(taken);
  acceptor->Stop();
  CloseHanded(*state);
}

}  // namespace
}  // namespace loraplex::service
