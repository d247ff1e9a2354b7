// A small fixed pool of threads for the few servicer steps that block (an
// adapter upload's verify + fsync + commit, LoadAdapter waiting for the
// device copy). gRPC's callback reactions run on gRPC's own threads and must
// not block, so they hand such work over here and finish the RPC from the
// worker when it is done.
#ifndef LORAPLEX_SERVICE_GRPC_BLOCKING_EXECUTOR_H_
#define LORAPLEX_SERVICE_GRPC_BLOCKING_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace loraplex::service {

class BlockingExecutor {
 public:
  // Starts `num_threads` (>= 1) workers.
  explicit BlockingExecutor(int num_threads);
  // Runs every task already scheduled, then joins the workers.
  ~BlockingExecutor();

  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `task` to run on a worker thread; never blocks. Thread-safe.
  // Tasks scheduled after destruction has begun still run.
  void Schedule(std::function<void()> task);

 private:
  void WorkerMain();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_BLOCKING_EXECUTOR_H_
