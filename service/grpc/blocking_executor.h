// A small, bounded pool of threads for servicer steps that block (an adapter
// upload's verify + validate + fsync + commit, registry deletions). gRPC's
// callback reactions run on gRPC's own threads and must not block, so they
// hand such work over here and finish the RPC from the worker when it is
// done.
//
// Note [No RPC kind starves another]: each kind of blocking work has its own
// executor (ServicerDeps), so a backlog of one kind never delays another;
// each executor's queue is bounded, and a full queue is RESOURCE_EXHAUSTED at
// once, never an unbounded wait; and within an executor tasks carry a key
// (the tenant): keys take turns, and at most one task per key runs at a
// time, so one tenant's slow work (say, validating a huge adapter) holds at
// most one thread while other tenants' work runs on the others.
#ifndef LORAPLEX_SERVICE_GRPC_BLOCKING_EXECUTOR_H_
#define LORAPLEX_SERVICE_GRPC_BLOCKING_EXECUTOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace loraplex::service {

class BlockingExecutor {
 public:
  struct Options {
    std::string name = "blocking";  // For errors and logs.
    int32_t num_threads = 2;        // Workers (>= 1).
    // Tasks waiting to start, over every key, before TrySchedule answers
    // RESOURCE_EXHAUSTED (>= 1).
    int32_t max_queued = 64;
  };

  // Starts the workers.
  explicit BlockingExecutor(const Options& options);
  // Runs every task already scheduled, then joins the workers.
  ~BlockingExecutor();

  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `task` to run on a worker thread after the tasks queued before
  // it under the same `key`, taking turns with other keys; never blocks.
  // RESOURCE_EXHAUSTED (and `task` is dropped) when max_queued tasks are
  // waiting already. Thread-safe. Tasks scheduled after destruction has
  // begun still run.
  absl::Status TrySchedule(const std::string& key, std::function<void()> task)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Tasks waiting to start (not running), for tests and metrics.
  int32_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct KeyQueue {
    std::deque<std::function<void()>> tasks;
    bool running = false;  // A task of this key is running.
  };

  void WorkerMain() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether some key has a task and none running.
  bool HasRunnableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !ready_.empty();
  }

  const Options options_;
  mutable absl::Mutex mu_;
  std::map<std::string, KeyQueue> keys_ ABSL_GUARDED_BY(mu_);
  // Keys with queued tasks and no task running, in turn order.
  std::deque<std::string> ready_ ABSL_GUARDED_BY(mu_);
  int32_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_BLOCKING_EXECUTOR_H_
