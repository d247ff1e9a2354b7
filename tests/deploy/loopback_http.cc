#include "tests/deploy/loopback_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace loraplex::deploy_test {
namespace {

// Closes a socket when it goes out of scope.
class SocketCloser {
 public:
  explicit SocketCloser(int fd) : fd_(fd) {}
  ~SocketCloser() { close(fd_); }

 private:
  int fd_;
};

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

absl::Status ErrnoError(absl::string_view what) {
  const int error = errno;
  if (error == EAGAIN || error == EWOULDBLOCK || error == EINPROGRESS) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(error)));
}

absl::StatusOr<HttpResponse> ParseResponse(const std::string& raw) {
  const size_t header_end = raw.find("\r\n\r\n");
  const size_t line_end = raw.find("\r\n");
  if (header_end == std::string::npos || raw.rfind("HTTP/", 0) != 0) {
    return absl::DataLossError(
        absl::StrCat("not an HTTP response: \"", raw.substr(0, 40), "\""));
  }
  const std::string status_line = raw.substr(0, line_end);
  const size_t space = status_line.find(' ');
  HttpResponse response;
  if (space == std::string::npos ||
      !absl::SimpleAtoi(status_line.substr(space + 1, 3),
                        &response.status_code)) {
    return absl::DataLossError(
        absl::StrCat("bad HTTP status line: \"", status_line, "\""));
  }
  response.body = raw.substr(header_end + 4);
  return response;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view path_and_query,
                                     absl::Duration timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return ErrnoError("socket");
  SocketCloser closer(fd);
  const timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const sockaddr_in address = Loopback(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
              sizeof(address)) != 0) {
    return ErrnoError(absl::StrCat("connect 127.0.0.1:", port));
  }
  const std::string request =
      absl::StrCat("GET ", path_and_query,
                   " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return ErrnoError("send");
  }
  std::string raw;
  char buffer[16384];
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;  // HTTP/1.0: the server closes after the body.
    if (n < 0) return ErrnoError("recv");
    raw.append(buffer, static_cast<size_t>(n));
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("recv: response took too long");
    }
  }
  return ParseResponse(raw);
}

std::string UrlEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  SocketCloser closer(fd);
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot bind a loopback port: ", std::strerror(errno)));
  }
  return static_cast<int>(ntohs(address.sin_port));
}

}  // namespace loraplex::deploy_test
