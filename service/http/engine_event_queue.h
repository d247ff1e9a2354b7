// The events of one engine request, handed from the engine loop thread to
// the HTTP worker that answers the request. The engine's callback must never
// block (engine.h): it appends the event and signals an eventfd, which the
// worker waits on together with its client's connection
// (HttpConnection::WaitForEvent), so that a client that leaves is noticed
// at once, not at the next token. The callback and the worker share the
// queue (shared_ptr), so either may be done with it first.
#ifndef LORAPLEX_SERVICE_HTTP_ENGINE_EVENT_QUEUE_H_
#define LORAPLEX_SERVICE_HTTP_ENGINE_EVENT_QUEUE_H_

#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/generation_types.h"

namespace loraplex::service {

class EngineEventQueue : public std::enable_shared_from_this<EngineEventQueue> {
 public:
  // INTERNAL when no eventfd can be made (descriptor limit).
  static absl::StatusOr<std::shared_ptr<EngineEventQueue>> Create();
  ~EngineEventQueue();
  EngineEventQueue(const EngineEventQueue&) = delete;
  EngineEventQueue& operator=(const EngineEventQueue&) = delete;

  // The engine callback feeding this queue (it keeps the queue alive).
  engine::GenerationCallback Callback();

  // Readable while events may be waiting; for HttpConnection::WaitForEvent.
  int event_fd() const { return event_fd_; }

  // The events delivered so far and not yet taken, oldest first; resets
  // event_fd() (it becomes readable again on the next event). The worker
  // answering the request only.
  std::vector<engine::GenerationEvent> Take() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit EngineEventQueue(int event_fd) : event_fd_(event_fd) {}
  // Engine loop thread.
  void Push(const engine::GenerationEvent& event) ABSL_LOCKS_EXCLUDED(mu_);

  const int event_fd_;  // Non-blocking eventfd; owned.
  absl::Mutex mu_;
  std::deque<engine::GenerationEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_ENGINE_EVENT_QUEUE_H_
