// Counts the gRPC calls in flight to one service (or to every other one),
// through a server interceptor: a call counts from when the server takes it
// until it is done (its status handed to the transport, after the reactor's
// OnDone). ServerApp::Shutdown waits on it so that every generation stream has
// sent its last message and its status before any call is cancelled (Note
// [Shutdown order] in server_app.cc).
#ifndef LORAPLEX_SERVICE_SERVER_IN_FLIGHT_CALLS_H_
#define LORAPLEX_SERVICE_SERVER_IN_FLIGHT_CALLS_H_

#include <grpcpp/support/server_interceptor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace loraplex::service {

// Thread-safe. Must outlive the gRPC server it counts for.
class InFlightCalls {
 public:
  enum class Selection {
    kService,        // The methods of the service.
    kAllButService,  // The methods of every other service.
  };
  // Counts the methods `selection` picks with `service_full_name` (e.g.
  // "loraplex.v1.GenerationService").
  InFlightCalls(Selection selection, const std::string& service_full_name);

  InFlightCalls(const InFlightCalls&) = delete;
  InFlightCalls& operator=(const InFlightCalls&) = delete;

  // For ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  int64_t count() const ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until no call is in flight (true) or `deadline` passes (false).
  bool AwaitNone(absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Factory;
  class Counter;

  void Add(int64_t delta) ABSL_LOCKS_EXCLUDED(mu_);
  bool NoneLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return count_ == 0;
  }

  bool Counts(const char* method) const;

  const Selection selection_;
  const std::string method_prefix_;  // "/<service>/".
  mutable absl::Mutex mu_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_IN_FLIGHT_CALLS_H_
