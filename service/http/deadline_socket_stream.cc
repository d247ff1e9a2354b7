#include "service/http/deadline_socket_stream.h"

#include <netdb.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/time/clock.h"

namespace loraplex::service {
namespace {

// The connection served by this thread (HttpConnection::Current): the
// stream of the connection its worker is in.
thread_local HttpConnection* current_connection = nullptr;

// The numeric address and port of a socket address ("", -1 if unknown).
void DescribeAddress(const sockaddr_storage& address, socklen_t length,
                     std::string& ip, int& port) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host,
                  sizeof(host), service, sizeof(service),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    ip.clear();
    port = -1;
    return;
  }
  ip = host;
  port = std::atoi(service);
}

}  // namespace

HttpConnection* HttpConnection::Current() { return current_connection; }

DeadlineSocketStream::DeadlineSocketStream(int sock, const Limits& limits,
                                           int stop_fd)
    : sock_(sock), limits_(limits), stop_fd_(stop_fd) {
  current_connection = this;
}

DeadlineSocketStream::~DeadlineSocketStream() {
  if (current_connection == this) current_connection = nullptr;
}

bool DeadlineSocketStream::WaitFor(short events, absl::Time deadline) const {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd fds[2] = {{sock_, events, 0}, {stop_fd_, POLLIN, 0}};
    // Rounded up, so that a wait never ends just before the deadline.
    const int timeout_ms = static_cast<int>(
        std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60'000));
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents != 0) return false;  // Stopping.
    // POLLHUP/POLLERR: let recv/send report it.
    if (fds[0].revents != 0) return true;
  }
}

bool DeadlineSocketStream::is_readable() const {
  return buffer_begin_ < buffer_end_ || WaitFor(POLLIN, limits_.read_deadline);
}

bool DeadlineSocketStream::is_writable() const {
  return WaitFor(POLLOUT,
                 write_deadline_.value_or(absl::Now() + limits_.write_timeout));
}

ssize_t DeadlineSocketStream::read(char* ptr, size_t size) {
  if (buffer_begin_ == buffer_end_) {
    if (bytes_read_ >= limits_.max_read_bytes ||
        !WaitFor(POLLIN, limits_.read_deadline)) {
      return -1;
    }
    const size_t allowed =
        std::min(buffer_.size(), limits_.max_read_bytes - bytes_read_);
    ssize_t got;
    do {
      got = recv(sock_, buffer_.data(), allowed, 0);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) return got;
    bytes_read_ += static_cast<size_t>(got);
    buffer_begin_ = 0;
    buffer_end_ = static_cast<size_t>(got);
  }
  const size_t n = std::min(size, buffer_end_ - buffer_begin_);
  std::memcpy(ptr, buffer_.data() + buffer_begin_, n);
  buffer_begin_ += n;
  return static_cast<ssize_t>(n);
}

absl::Time DeadlineSocketStream::WriteDeadline() {
  if (!write_deadline_.has_value()) RestartWriteDeadline();
  return *write_deadline_;
}

void DeadlineSocketStream::RestartWriteDeadline() {
  write_deadline_ = absl::Now() + limits_.write_timeout;
}

ssize_t DeadlineSocketStream::write(const char* ptr, size_t size) {
  if (!WaitFor(POLLOUT, WriteDeadline())) return -1;
  ssize_t sent;
  do {
    sent = send(sock_, ptr, size, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent;
}

void DeadlineSocketStream::get_remote_ip_and_port(std::string& ip,
                                                  int& port) const {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ip.clear();
    port = -1;
    return;
  }
  DescribeAddress(address, length, ip, port);
}

void DeadlineSocketStream::get_local_ip_and_port(std::string& ip,
                                                 int& port) const {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ip.clear();
    port = -1;
    return;
  }
  DescribeAddress(address, length, ip, port);
}

socket_t DeadlineSocketStream::socket() const {
  // See Note [httplib and FD_SETSIZE].
  return sock_ < FD_SETSIZE ? sock_ : INVALID_SOCKET;
}

HttpConnection::Wake DeadlineSocketStream::WaitForEvent(int event_fd) {
  while (true) {
    // POLLRDHUP: the client's FIN. Bytes it sends after its request (which
    // is never read again) do not wake this wait: POLLIN is not asked for.
    pollfd fds[3] = {
        {sock_, POLLRDHUP, 0}, {event_fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = poll(fds, 3, /*timeout=*/-1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Wake::kServerStopping;  // Cannot wait: treat as the end.
    }
    if (fds[2].revents != 0) return Wake::kServerStopping;
    if (fds[0].revents != 0) return Wake::kClientGone;  // RDHUP/HUP/ERR.
    if (fds[1].revents != 0) return Wake::kEvent;
  }
}

}  // namespace loraplex::service
