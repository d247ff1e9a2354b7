// A small HTTP/1.1 server on cpp-httplib that no client can pin: a fixed
// number of worker threads (normal stacks, unlike civetweb's; see
// service/metrics/metrics_exposer.h), a bounded number of connections
// waiting for one, a deadline for reading each request, a time limit for
// writing each answer (or each part of a streamed one), and a request size
// limit. One request per connection (answers carry "Connection: close"):
// an idle keep-alive connection would hold a worker for nothing.
//
// Why deadlines and not httplib's read/write timeouts: those restart with
// every byte, so a client that drips its request (or reads its answer) byte
// by byte would keep a worker forever; a few such clients would take every
// worker, and every other request would time out.
//
// Note [Waiting handlers]: a handler may wait for something before it
// answers (an engine request), or stream its answer as it comes (Server-Sent
// Events), holding its worker meanwhile. It waits through
// HttpConnection::Current()->WaitForEvent, which also ends when the client
// goes away or the server stops, so that it can cancel what it waits for;
// and restarts the write window before each streamed part. Size
// worker_threads for the answers in progress at once.
#ifndef LORAPLEX_SERVICE_HTTP_BOUNDED_HTTP_SERVER_H_
#define LORAPLEX_SERVICE_HTTP_BOUNDED_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace loraplex::service {

struct HttpServerLimits {
  // Connections served at once, one worker thread each.
  int32_t worker_threads = 4;
  // Accepted connections waiting for a worker; one more is closed at once,
  // unanswered (its client sees the connection reset and retries later).
  int32_t max_waiting_connections = 32;
  // For each connection, from when it is accepted: waiting for a worker and
  // reading the whole request. Then it is closed unanswered.
  absl::Duration request_deadline = absl::Seconds(10);
  // The answer must be taken by the client within this from its first
  // byte (a streamed answer: each part, Note [Waiting handlers]); then the
  // connection is closed.
  absl::Duration write_timeout = absl::Seconds(10);
  // Bytes of one request (request line, headers and body); a longer one
  // ends its connection.
  size_t max_request_bytes = 16 * 1024;
};

class BoundedHttpServer {
 public:
  // Registers the routes (handlers) on the httplib server before it starts;
  // runs once, on the caller's thread. Handlers run on worker threads.
  using RouteSetup = std::function<void(httplib::Server& routes)>;

  // Listens on `host`:`port` (port 0: a free one; host as getaddrinfo
  // takes it, e.g. "0.0.0.0", "::1") and serves until destroyed. Returns
  // once it accepts connections. UNAVAILABLE when the address cannot be
  // bound (in use, or not an address of this host).
  static absl::StatusOr<std::unique_ptr<BoundedHttpServer>> Start(
      const std::string& host, int port, const HttpServerLimits& limits,
      const RouteSetup& routes);

  // Ends every connection at once (a handler already running finishes its
  // call, its waits ending with kServerStopping), stops accepting and joins
  // every thread.
  ~BoundedHttpServer();

  BoundedHttpServer(const BoundedHttpServer&) = delete;
  BoundedHttpServer& operator=(const BoundedHttpServer&) = delete;

  // For a graceful shutdown: connections accepted from now on are closed at
  // once, unanswered; those already accepted are still served. Thread-safe.
  void StopAccepting();
  // Blocks until no connection is being served or waits for a worker
  // (true), or until `deadline` (false). Thread-safe.
  bool AwaitIdle(absl::Time deadline);

  int port() const { return port_; }  // The bound port.

 private:
  class ConnectionServer;  // The httplib::Server, with bounded connections.

  BoundedHttpServer() = default;

  std::unique_ptr<ConnectionServer> server_;
  std::thread listener_;  // Runs httplib's accept loop.
  int port_ = 0;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_BOUNDED_HTTP_SERVER_H_
