// BoundedHttpServer's support for handlers that wait and stream (Note
// [Waiting handlers]): HttpConnection::WaitForEvent wakes on the event, on
// the client leaving and on the server stopping; each streamed part has a
// write window, so a client that stops reading is cut off; StopAccepting
// and AwaitIdle for a graceful shutdown.
#include "service/http/bounded_http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "service/http/http_connection.h"

namespace loraplex::service {
namespace {

constexpr absl::Duration kSafetyNet = absl::Seconds(60);

// A TCP connection to 127.0.0.1:`port` that the test drives itself.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A small receive buffer, so that a client that does not read fills it
    // (and the server's send buffer) soon.
    const int small = 4096;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address),
                         sizeof(address)) == 0;
  }
  ~RawConnection() { Close(); }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Blocks until the server closes; what it sent.
  std::string ReadUntilClosed() {
    std::string answer;
    char buffer[4096];
    ssize_t got;
    while ((got = recv(fd_, buffer, sizeof(buffer), 0)) > 0) {
      answer.append(buffer, static_cast<size_t>(got));
    }
    return answer;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// An eventfd the test owns.
class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~EventFd() { close(fd_); }
  int fd() const { return fd_; }
  void Signal() {
    const uint64_t one = 1;
    (void)!write(fd_, &one, sizeof(one));
  }

 private:
  const int fd_;
};

// What the handler of GET /wait saw.
struct WaitOutcome {
  absl::Notification waiting;  // The handler is in WaitForEvent.
  absl::Notification done;
  std::optional<HttpConnection::Wake> wake;  // Set before `done`.
};

std::unique_ptr<BoundedHttpServer> StartWaitServer(EventFd& event,
                                                   WaitOutcome& outcome,
                                                   HttpServerLimits limits) {
  absl::StatusOr<std::unique_ptr<BoundedHttpServer>> server =
      BoundedHttpServer::Start(
          "127.0.0.1", 0, limits, [&](httplib::Server& routes) {
            routes.Get("/wait", [&](const httplib::Request&,
                                    httplib::Response& response) {
              HttpConnection* connection = HttpConnection::Current();
              outcome.waiting.Notify();
              outcome.wake = connection->WaitForEvent(event.fd());
              outcome.done.Notify();
              response.set_content("woken", "text/plain");
            });
          });
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpConnectionTest, OnlyWorkerThreadsServeAConnection) {
  EXPECT_EQ(HttpConnection::Current(), nullptr);
}

TEST(HttpConnectionTest, WaitEndsWithTheEvent) {
  EventFd event;
  WaitOutcome outcome;
  auto server = StartWaitServer(event, outcome, HttpServerLimits());
  ASSERT_NE(server, nullptr);
  RawConnection client(server->port());
  ASSERT_TRUE(client.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(outcome.waiting.WaitForNotificationWithTimeout(kSafetyNet));
  event.Signal();
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(kSafetyNet));
  EXPECT_EQ(outcome.wake, HttpConnection::Wake::kEvent);
  EXPECT_NE(client.ReadUntilClosed().find("woken"), std::string::npos);
}

TEST(HttpConnectionTest, WaitEndsWhenTheClientLeaves) {
  EventFd event;
  WaitOutcome outcome;
  auto server = StartWaitServer(event, outcome, HttpServerLimits());
  ASSERT_NE(server, nullptr);
  RawConnection client(server->port());
  ASSERT_TRUE(client.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(outcome.waiting.WaitForNotificationWithTimeout(kSafetyNet));
  client.Close();
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(kSafetyNet));
  EXPECT_EQ(outcome.wake, HttpConnection::Wake::kClientGone);
}

TEST(HttpConnectionTest, WaitEndsWhenTheServerStops) {
  EventFd event;
  WaitOutcome outcome;
  auto server = StartWaitServer(event, outcome, HttpServerLimits());
  ASSERT_NE(server, nullptr);
  RawConnection client(server->port());
  ASSERT_TRUE(client.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(outcome.waiting.WaitForNotificationWithTimeout(kSafetyNet));
  server.reset();  // Returns only once the handler has.
  ASSERT_TRUE(outcome.done.HasBeenNotified());
  EXPECT_EQ(outcome.wake, HttpConnection::Wake::kServerStopping);
}

TEST(HttpConnectionTest, AStreamThatTheClientDoesNotReadIsCutOff) {
  HttpServerLimits limits;
  limits.write_timeout = absl::Milliseconds(300);
  absl::Notification cut_off;
  int64_t parts_written = 0;  // Written by the handler, read after cut_off.
  absl::StatusOr<std::unique_ptr<BoundedHttpServer>> server =
      BoundedHttpServer::Start(
          "127.0.0.1", 0, limits, [&](httplib::Server& routes) {
            routes.Get("/stream", [&](const httplib::Request&,
                                      httplib::Response& response) {
              response.set_chunked_content_provider(
                  "text/event-stream", [&](size_t, httplib::DataSink& sink) {
                    const std::string part(64 << 10, 'x');
                    // Each part gets its own window: a reading client
                    // would take them all.
                    while (true) {
                      HttpConnection::Current()->RestartWriteDeadline();
                      if (!sink.write(part.data(), part.size())) break;
                      ++parts_written;
                    }
                    cut_off.Notify();
                    return false;
                  });
            });
          });
  ASSERT_TRUE(server.ok()) << server.status();
  RawConnection client((*server)->port());
  ASSERT_TRUE(client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  // The client reads nothing: the server's writes stop at a full socket
  // and the window closes the connection.
  ASSERT_TRUE(cut_off.WaitForNotificationWithTimeout(kSafetyNet));
  EXPECT_LT(parts_written, 1000);  // Far from an endless stream.
}

TEST(BoundedHttpServerTest, StopAcceptingClosesNewConnectionsAndDrains) {
  EventFd event;
  WaitOutcome outcome;
  auto server = StartWaitServer(event, outcome, HttpServerLimits());
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->AwaitIdle(absl::Now() + kSafetyNet));
  RawConnection busy(server->port());
  ASSERT_TRUE(busy.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(outcome.waiting.WaitForNotificationWithTimeout(kSafetyNet));

  server->StopAccepting();
  RawConnection late(server->port());
  ASSERT_TRUE(late.connected());  // The listener is still open ...
  late.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(late.ReadUntilClosed(), "");  // ... but nobody answers.
  // The request in progress is still served, and then the server is idle.
  EXPECT_FALSE(server->AwaitIdle(absl::Now()));
  event.Signal();
  EXPECT_NE(busy.ReadUntilClosed().find("woken"), std::string::npos);
  EXPECT_TRUE(server->AwaitIdle(absl::Now() + kSafetyNet));
}

}  // namespace
}  // namespace loraplex::service
