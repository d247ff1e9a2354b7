// One accepted HTTP connection as cpp-httplib's Stream, with deadlines
// instead of httplib's per-read and per-write timeouts. A per-read timeout
// restarts with every byte, so a client that drips its request a byte at a
// time would hold the connection's thread forever; here the request must be
// read before one fixed time, and the answer (or each part of a streamed
// one) written within a fixed time from its first byte.
//
// Every wait also watches a "stop" eventfd, so the owner can end all
// connections at once (shutdown never waits for a slow client).
#ifndef LORAPLEX_SERVICE_HTTP_DEADLINE_SOCKET_STREAM_H_
#define LORAPLEX_SERVICE_HTTP_DEADLINE_SOCKET_STREAM_H_

#include <httplib.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "service/http/http_connection.h"

namespace loraplex::service {

// Used by one thread at a time; does not own the socket.
class DeadlineSocketStream final : public httplib::Stream,
                                   public HttpConnection {
 public:
  struct Limits {
    // Reading (the request) fails from this time on.
    absl::Time read_deadline;
    // A write window: from the first write, or RestartWriteDeadline().
    absl::Duration write_timeout;
    // Reads beyond this many bytes in total fail (request size limit).
    size_t max_read_bytes = 0;
  };

  // `sock`: a connected TCP socket. `stop_fd`: readable once the server
  // stops. The calling thread serves it: HttpConnection::Current() is this
  // stream on that thread until it is destroyed.
  DeadlineSocketStream(int sock, const Limits& limits, int stop_fd);
  ~DeadlineSocketStream() override;
  DeadlineSocketStream(const DeadlineSocketStream&) = delete;
  DeadlineSocketStream& operator=(const DeadlineSocketStream&) = delete;

  // httplib::Stream. Whether the socket becomes readable (writable) before
  // the read (write) deadline.
  bool is_readable() const override;
  bool is_writable() const override;
  // As recv/send: bytes moved, or -1 at the deadline, on stop, past the
  // read limit or on a socket error (0 from read: the peer closed).
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  // Note [httplib and FD_SETSIZE]: httplib 0.11 (built, as Debian does,
  // without CPPHTTPLIB_USE_POLL) answers 500 to a connection whose socket
  // number is >= FD_SETSIZE, because its own select() calls cannot watch
  // it. This stream never uses select(), so a
  // socket number that high is reported as INVALID_SOCKET (-1), the only
  // use httplib makes of it.
  socket_t socket() const override;

  // HttpConnection.
  Wake WaitForEvent(int event_fd) override;
  void RestartWriteDeadline() override;

 private:
  // Polls the socket for `events` and the stop fd; false at `deadline`, on
  // stop or on a poll error.
  bool WaitFor(short events, absl::Time deadline) const;
  // The current write window's end, opening one if none is open.
  absl::Time WriteDeadline();

  const int sock_;
  const Limits limits_;
  const int stop_fd_;
  std::optional<absl::Time> write_deadline_;  // Unset until the first write.
  size_t bytes_read_ = 0;  // From the socket, buffered or not.
  // httplib reads the request line and headers a byte at a time: serve
  // those from one recv() into this buffer.
  std::array<char, 4096> buffer_;
  size_t buffer_begin_ = 0;
  size_t buffer_end_ = 0;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_DEADLINE_SOCKET_STREAM_H_
