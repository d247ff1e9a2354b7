// Accepts the gRPC server's TCP connections itself and hands them to gRPC.
//
// Note [Accepting connections]: gRPC 1.51's listener
// (src/core/lib/iomgr/tcp_server_posix.cc, on_read) treats every accept4
// error but EINTR and EAGAIN, EMFILE included, as the end of that listening
// socket: it logs "Failed accept4: Too many open files" and never polls it
// again, so the server accepts no new connection until it is restarted, even
// once descriptors are free again (grpc/grpc#20418). 1.51 has no bound on
// incoming connections (GRPC_ARG_MAX_ALLOWED_INCOMING_CONNECTIONS came
// later), and its ResourceQuota bounds memory and threads, not descriptors.
// So the server listens and accepts here, on a thread of its own, and hands
// each connection over through gRPC's external connection API
// (ServerBuilder::experimental().AddExternalConnectionAcceptor), which runs
// the same HTTP/2 handshake as gRPC's own listener. Here:
//   - a connection is handed over only while the process has at most
//     `max_open_fds` descriptors open (Note [File descriptor budget] in
//     fd_limits.h); beyond, it is accepted and closed at once (the client
//     sees UNAVAILABLE and may retry), so clients cannot bring the process
//     to its descriptor limit;
//   - no accept error ends the loop: EMFILE, ENFILE, ENOBUFS and ENOMEM are
//     logged and retried after 100 ms, others are skipped.
#ifndef LORAPLEX_SERVICE_GRPC_CONNECTION_ACCEPTOR_H_
#define LORAPLEX_SERVICE_GRPC_CONNECTION_ACCEPTOR_H_

#include <grpcpp/server_builder.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace loraplex::service {

class ConnectionAcceptor {
 public:
  struct Options {
    // "host:port", "[v6 address]:port" or ":port"; host 0.0.0.0, :: or
    // empty listens on every address (IPv6 and IPv4 where possible), a
    // name on every address it resolves to, like gRPC's own listener. Port
    // 0 picks a free one (port()).
    std::string address;
    // Note [File descriptor budget]: the most descriptors the process may
    // have open for a new connection to be handed over; 0 = no limit.
    int64_t max_open_fds = 0;
  };

  // Binds and listens. INVALID_ARGUMENT for an address it cannot parse,
  // UNAVAILABLE when it cannot resolve or bind it.
  static absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> Listen(
      const Options& options);

  // Stop().
  ~ConnectionAcceptor();
  ConnectionAcceptor(const ConnectionAcceptor&) = delete;
  ConnectionAcceptor& operator=(const ConnectionAcceptor&) = delete;

  int port() const { return port_; }

  // Starts accepting, handing connections to `grpc_acceptor` (from the
  // ServerBuilder, whose server has started). Call once.
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>
                 grpc_acceptor);
  // Stops accepting: closes the listening socket and joins the thread.
  // Connections handed over stay with gRPC. Idempotent.
  void Stop();

  // Connections closed at once for the descriptor budget so far.
  int64_t refused_connections() const { return refused_.load(); }

 private:
  ConnectionAcceptor(std::vector<int> listen_fds, int wake_fd, int port,
                     int64_t max_open_fds)
      : listen_fds_(std::move(listen_fds)),
        wake_fd_(wake_fd),
        port_(port),
        max_open_fds_(max_open_fds) {}

  void AcceptLoop();
  // Accepts what is pending on `listen_fd`; false when accept4 failed for
  // lack of resources (the loop then waits a little).
  bool AcceptPending(int listen_fd);
  // Whether the connection just accepted (already counted as open) may be
  // handed over.
  bool WithinBudget();
  // Waits up to `timeout` for Stop; true when stopping.
  bool WaitForStop(absl::Duration timeout);

  // One per address the host resolved to (one for a wildcard host).
  std::vector<int> listen_fds_;
  const int wake_fd_;  // eventfd: Stop() wakes the loop.
  const int port_;
  const int64_t max_open_fds_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>
      grpc_acceptor_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> refused_{0};
  // Accept thread only: descriptors open as of the last count plus those
  // handed over since (closed ones show at the next count), and when that
  // count was taken.
  int64_t open_estimate_ = 0;
  absl::Time last_count_ = absl::InfinitePast();
  absl::Duration recount_interval_ = absl::ZeroDuration();
  absl::Time last_warning_ = absl::InfinitePast();
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_CONNECTION_ACCEPTOR_H_
