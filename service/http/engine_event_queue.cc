#include "service/http/engine_event_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace loraplex::service {

absl::StatusOr<std::shared_ptr<EngineEventQueue>> EngineEventQueue::Create() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot make an eventfd: ", std::strerror(errno)));
  }
  return std::shared_ptr<EngineEventQueue>(new EngineEventQueue(fd));
}

EngineEventQueue::~EngineEventQueue() { close(event_fd_); }

engine::GenerationCallback EngineEventQueue::Callback() {
  std::shared_ptr<EngineEventQueue> self = shared_from_this();
  return [self](const engine::GenerationEvent& event) { self->Push(event); };
}

void EngineEventQueue::Push(const engine::GenerationEvent& event) {
  {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  // After the event is queued: Take resets the counter before it empties
  // the queue, so no event is ever left behind an unsignalled fd.
  const uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof(one));  // Never blocks.
}

std::vector<engine::GenerationEvent> EngineEventQueue::Take() {
  uint64_t count = 0;
  (void)!read(event_fd_, &count, sizeof(count));  // EAGAIN when unsignalled.
  std::vector<engine::GenerationEvent> taken;
  absl::MutexLock lock(&mu_);
  taken.reserve(events_.size());
  for (engine::GenerationEvent& event : events_) {
    taken.push_back(std::move(event));
  }
  events_.clear();
  return taken;
}

}  // namespace loraplex::service
