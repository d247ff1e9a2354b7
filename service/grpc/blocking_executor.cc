#include "service/grpc/blocking_executor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace loraplex::service {

BlockingExecutor::BlockingExecutor(const Options& options) : options_(options) {
  const int32_t count = std::max<int32_t>(1, options_.num_threads);
  workers_.reserve(count);
  for (int32_t i = 0; i < count; ++i) {
    workers_.emplace_back([this] { WorkerMain(); });
  }
}

BlockingExecutor::~BlockingExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

absl::Status BlockingExecutor::TrySchedule(const std::string& key,
                                           std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (queued_ >= std::max<int32_t>(1, options_.max_queued)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server's ", options_.name, " queue is full (",
                     queued_, " tasks waiting)"));
  }
  KeyQueue& queue = keys_[key];
  queue.tasks.push_back(std::move(task));
  ++queued_;
  if (!queue.running && queue.tasks.size() == 1) ready_.push_back(key);
  return absl::OkStatus();
}

int32_t BlockingExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

void BlockingExecutor::WorkerMain() {
  mu_.Lock();
  while (true) {
    auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      // Stop only once nothing is queued: a queued task is an RPC waiting
      // to finish. (Tasks of a key whose task is running are picked up by
      // the worker running it.)
      return HasRunnableLocked() || (stopping_ && queued_ == 0);
    };
    mu_.Await(absl::Condition(&has_work));
    if (!HasRunnableLocked()) break;
    const std::string key = std::move(ready_.front());
    ready_.pop_front();
    KeyQueue& queue = keys_[key];
    std::function<void()> task = std::move(queue.tasks.front());
    queue.tasks.pop_front();
    queue.running = true;
    --queued_;
    ++running_;
    mu_.Unlock();
    task();
    task = nullptr;  // Destroy captures outside the lock, too.
    mu_.Lock();
    --running_;
    KeyQueue& after = keys_[key];
    after.running = false;
    if (after.tasks.empty()) {
      keys_.erase(key);
    } else {
      ready_.push_back(key);  // Its next task waits for its turn.
    }
  }
  mu_.Unlock();
}

}  // namespace loraplex::service
