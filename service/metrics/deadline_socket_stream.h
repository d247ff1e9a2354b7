// One accepted HTTP connection as cpp-httplib's Stream, with a deadline for
// the whole exchange instead of httplib's per-read timeout. A per-read
// timeout restarts with every byte, so a client that drips its request a
// byte at a time would hold the connection's thread forever; here the
// request must be read and the answer written before one fixed time.
//
// Every wait also watches a "stop" eventfd, so the owner can end all
// connections at once (shutdown never waits for a slow client).
#ifndef LORAPLEX_SERVICE_METRICS_DEADLINE_SOCKET_STREAM_H_
#define LORAPLEX_SERVICE_METRICS_DEADLINE_SOCKET_STREAM_H_

#include <httplib.h>

#include <array>
#include <cstddef>
#include <string>

#include "absl/time/time.h"

namespace loraplex::service {

// Used by one thread at a time; does not own the socket.
class DeadlineSocketStream final : public httplib::Stream {
 public:
  // `sock`: a connected TCP socket. `stop_fd`: readable once the server
  // stops. Reads beyond `max_read_bytes` in total fail (request size limit).
  DeadlineSocketStream(int sock, absl::Time deadline, int stop_fd,
                       size_t max_read_bytes);

  // Whether the socket becomes readable (writable) before the deadline.
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
  // it. This stream never uses select(), so a socket number that high is
  // reported as INVALID_SOCKET (-1), the only use httplib makes of it.
  socket_t socket() const override;

 private:
  // Polls the socket for `events` and the stop fd; false at the deadline,
  // on stop or on a poll error.
  bool WaitFor(short events) const;

  const int sock_;
  const absl::Time deadline_;
  const int stop_fd_;
  const size_t max_read_bytes_;
  size_t bytes_read_ = 0;  // From the socket, buffered or not.
  // httplib reads the request line and headers a byte at a time: serve
  // those from one recv() into this buffer.
  std::array<char, 4096> buffer_;
  size_t buffer_begin_ = 0;
  size_t buffer_end_ = 0;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_METRICS_DEADLINE_SOCKET_STREAM_H_
