#include "service/http/bounded_http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "service/http/deadline_socket_stream.h"

namespace loraplex::service {
namespace {

// The request deadline of the connection the current thread is about to
// serve: set by ConnectionQueue around each job, read by
// process_and_close_socket (httplib's job is an opaque function that only
// passes the socket on).
thread_local absl::Time current_request_deadline = absl::InfinitePast();

// Runs one of httplib's per-connection jobs under `deadline`.
void RunConnection(const std::function<void()>& job, absl::Time deadline) {
  current_request_deadline = deadline;
  job();
  current_request_deadline = absl::InfinitePast();
}

// A fixed set of workers and a bounded FIFO of accepted connections. Every
// job must run, because only it closes its socket; a job over the bound (or
// arriving after StopAccepting) runs at once on the accepting thread with a
// deadline already passed, so it just closes the connection.
class ConnectionQueue {
 public:
  explicit ConnectionQueue(const HttpServerLimits& limits) : limits_(limits) {
    for (int32_t i = 0; i < limits.worker_threads; ++i) {
      workers_.emplace_back([this] { Work(); });
    }
  }
  ~ConnectionQueue() { Shutdown(); }

  // The accepting thread: one connection just accepted.
  void Enqueue(std::function<void()> job) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (state_ == State::kServing &&
          jobs_.size() < static_cast<size_t>(limits_.max_waiting_connections)) {
        jobs_.push_back(
            {std::move(job), absl::Now() + limits_.request_deadline});
        return;
      }
    }
    RunConnection(job, absl::InfinitePast());
  }

  void StopAccepting() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (state_ == State::kServing) state_ = State::kDraining;
  }

  bool AwaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(
        absl::Condition(this, &ConnectionQueue::IdleLocked), deadline);
  }

  // Lets the workers finish the queued jobs (each closes its connection at
  // once when the server is stopping) and joins them. Idempotent; not
  // concurrently with itself.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      state_ = State::kStopped;
    }
    for (std::thread& worker : workers_) {
      if (worker.joinable()) worker.join();
    }
  }

 private:
  enum class State {
    kServing,   // Accepted connections queue for a worker.
    kDraining,  // New ones are closed; queued ones are still served.
    kStopped,   // Workers exit once the queue is empty.
  };
  struct Job {
    std::function<void()> run;
    absl::Time deadline;
  };

  void Work() ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &ConnectionQueue::HasWorkOrStopped));
        if (jobs_.empty()) return;  // Stopped, and nothing left.
        job = std::move(jobs_.front());
        jobs_.pop_front();
        ++busy_;
      }
      RunConnection(job.run, job.deadline);
      absl::MutexLock lock(&mu_);
      --busy_;
    }
  }
  bool HasWorkOrStopped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !jobs_.empty() || state_ == State::kStopped;
  }
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return jobs_.empty() && busy_ == 0;
  }

  const HttpServerLimits limits_;
  absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  int busy_ ABSL_GUARDED_BY(mu_) = 0;  // Workers running a job.
  State state_ ABSL_GUARDED_BY(mu_) = State::kServing;
  std::vector<std::thread> workers_;  // Started in the constructor.
};

// httplib's TaskQueue, which its accept loop creates and destroys, over a
// ConnectionQueue that outlives it.
class TaskQueueAdapter final : public httplib::TaskQueue {
 public:
  explicit TaskQueueAdapter(ConnectionQueue* queue) : queue_(queue) {}
  void enqueue(std::function<void()> job) override {
    queue_->Enqueue(std::move(job));
  }
  void shutdown() override { queue_->Shutdown(); }

 private:
  ConnectionQueue* const queue_;
};

// SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which a
// second server could bind the same port and take half the connections.
void ReuseAddressOnly(socket_t sock) {
  const int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

class BoundedHttpServer::ConnectionServer final : public httplib::Server {
 public:
  explicit ConnectionServer(const HttpServerLimits& limits)
      : limits_(limits),
        stop_fd_(eventfd(0, EFD_CLOEXEC)),
        queue_(std::make_unique<ConnectionQueue>(limits)) {
    set_socket_options(ReuseAddressOnly);
    set_payload_max_length(limits.max_request_bytes);
    set_keep_alive_max_count(1);
    new_task_queue = [this]() -> httplib::TaskQueue* {
      // httplib creates the queue as its accept loop starts: from here on,
      // stop() reaches the loop.
      accepting_.Notify();
      return new TaskQueueAdapter(queue_.get());
    };
  }
  ~ConnectionServer() override {
    queue_->Shutdown();
    if (stop_fd_ >= 0) close(stop_fd_);
  }

  bool valid() const { return stop_fd_ >= 0; }
  void WaitUntilAccepting() { accepting_.WaitForNotification(); }
  // The accept loop returned (failed): nobody waits for it any more.
  void AcceptLoopEnded() {
    if (!accepting_.HasBeenNotified()) accepting_.Notify();
  }
  ConnectionQueue& queue() { return *queue_; }

  // Ends every connection's waits, then stops the accept loop.
  void StopServing() {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    stop();
  }

 private:
  // httplib calls this (virtually) from the job it queues for each accepted
  // connection; it replaces httplib's keep-alive loop and per-read
  // timeouts with one request under the connection's deadlines.
  bool process_and_close_socket(socket_t sock) override {
    bool served = false;
    if (current_request_deadline > absl::Now()) {
      // Streamed parts go out as they are written.
      const int yes = 1;
      setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
      DeadlineSocketStream stream(
          sock,
          {current_request_deadline, limits_.write_timeout,
           limits_.max_request_bytes},
          stop_fd_);
      bool connection_closed = false;
      served = process_request(stream, /*close_connection=*/true,
                               connection_closed, nullptr);
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return served;
  }

  const HttpServerLimits limits_;
  const int stop_fd_;  // eventfd, readable once stopping.
  absl::Notification accepting_;
  // Declared last: its workers run process_and_close_socket, which reads
  // the members above.
  const std::unique_ptr<ConnectionQueue> queue_;
};

absl::StatusOr<std::unique_ptr<BoundedHttpServer>> BoundedHttpServer::Start(
    const std::string& host, int port, const HttpServerLimits& limits,
    const RouteSetup& routes) {
  std::unique_ptr<BoundedHttpServer> server(new BoundedHttpServer());
  server->server_ = std::make_unique<ConnectionServer>(limits);
  ConnectionServer& http = *server->server_;
  if (!http.valid()) return absl::InternalError("eventfd failed");
  routes(http);
  if (port == 0) {
    server->port_ = http.bind_to_any_port(host);
  } else if (http.bind_to_port(host, port)) {
    server->port_ = port;
  } else {
    server->port_ = -1;
  }
  if (server->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":",
                                               port,
                                               " (in use, or not an address of "
                                               "this host)"));
  }
  server->listener_ = std::thread([&http] {
    http.listen_after_bind();
    http.AcceptLoopEnded();
  });
  http.WaitUntilAccepting();
  return server;
}

void BoundedHttpServer::StopAccepting() { server_->queue().StopAccepting(); }

bool BoundedHttpServer::AwaitIdle(absl::Time deadline) {
  return server_->queue().AwaitIdle(deadline);
}

BoundedHttpServer::~BoundedHttpServer() {
  if (server_ == nullptr) return;
  if (listener_.joinable()) {
    server_->StopServing();
    listener_.join();
  }
}

}  // namespace loraplex::service
