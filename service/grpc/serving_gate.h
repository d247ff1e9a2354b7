// Whether the gRPC services take new calls. ServerApp::Shutdown closes it
// first (Note [Shutdown order] in service/server/server_app.cc): gRPC's own
// "no new calls" (its GOAWAY) must wait until the running generation
// streams have ended, so calls that arrive meanwhile are refused here.
#ifndef LORAPLEX_SERVICE_GRPC_SERVING_GATE_H_
#define LORAPLEX_SERVICE_GRPC_SERVING_GATE_H_

#include <atomic>

#include "absl/status/status.h"

namespace loraplex::service {

// Thread-safe.
class ServingGate {
 public:
  void Close() { closed_.store(true, std::memory_order_release); }

  // OK while open; UNAVAILABLE (retryable elsewhere) once closed.
  absl::Status Admit() const {
    if (!closed_.load(std::memory_order_acquire)) return absl::OkStatus();
    return absl::UnavailableError(
        "the server is shutting down: it takes no new calls");
  }

 private:
  std::atomic<bool> closed_{false};
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_SERVING_GATE_H_
