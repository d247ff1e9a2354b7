// The whole server wired together, for `loraplex-server`'s main and for the
// end-to-end tests (which run the same objects in-process): engine, durable
// adapter registry, API keys, metrics (+ exposer), the gRPC servicers with
// health checking and reflection.
//
// Start-up order: API keys (fail fast), metrics, engine (loads the model),
// registry (recovers what was committed), seed adapters, register every
// stored adapter with the engine, metrics exposer, gRPC server. Shutdown
// is the reverse and graceful; see Shutdown().
#ifndef LORAPLEX_SERVICE_SERVER_SERVER_APP_H_
#define LORAPLEX_SERVICE_SERVER_SERVER_APP_H_

#include <memory>
#include <string>

#include <grpcpp/server.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "prometheus/registry.h"
#include "service/auth/api_key_store.h"
#include "service/grpc/adapter_service.h"
#include "service/grpc/blocking_executor.h"
#include "service/grpc/connection_acceptor.h"
#include "service/grpc/error_scrubber.h"
#include "service/grpc/generation_service.h"
#include "service/grpc/upload_supervisor.h"
#include "service/metrics/metrics_exposer.h"
#include "service/metrics/server_metrics.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "service/server/server_options.h"

namespace loraplex::service {

class ServerApp {
 public:
  // Builds everything and starts serving. Errors name the step that failed
  // (e.g. UNAVAILABLE when an address cannot be bound, the engine's error
  // for a bad model).
  static absl::StatusOr<std::unique_ptr<ServerApp>> Start(
      const ServerOptions& options);

  // Shutdown(zero grace) if it has not run.
  ~ServerApp();

  ServerApp(const ServerApp&) = delete;
  ServerApp& operator=(const ServerApp&) = delete;

  // Graceful stop: health turns NOT_SERVING, the server accepts no new
  // calls, requests already running get up to `grace` to finish (then the
  // engine cancels them: finish reason CANCELLED), other calls (uploads)
  // get a little longer, then everything is torn down. Thread-safe; later
  // calls wait for the first to complete. Blocks until done.
  void Shutdown(absl::Duration grace) ABSL_LOCKS_EXCLUDED(shutdown_mu_);

  int port() const { return port_; }  // The bound gRPC port.
  // The bound metrics port; 0 when the exposer is disabled.
  int metrics_port() const { return metrics_port_; }

  engine::Engine& engine() { return *engine_; }
  FilesystemAdapterRegistry& registry() { return *registry_; }
  ServerMetrics& metrics() { return *metrics_; }

 private:
  ServerApp() = default;

  absl::Status StartEngine(const ServerOptions& options);
  absl::Status OpenRegistry(const ServerOptions& options);
  absl::Status StartMetricsExposer(const ServerOptions& options);
  absl::Status StartGrpcServer(const ServerOptions& options);

  // Declared in construction order; destroyed in reverse, so nothing is
  // destroyed while something declared after it may still call it.
  std::shared_ptr<prometheus::Registry> prometheus_registry_;
  std::unique_ptr<ServerMetrics> metrics_;  // The engine's observer.
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<FilesystemAdapterRegistry> registry_;
  std::unique_ptr<ApiKeyStore> api_keys_;
  std::unique_ptr<ErrorScrubber> scrubber_;
  std::unique_ptr<UploadSupervisor> uploads_;
  std::unique_ptr<BlockingExecutor> upload_executor_;
  std::unique_ptr<BlockingExecutor> registry_executor_;
  std::unique_ptr<GenerationServiceImpl> generation_service_;
  std::unique_ptr<AdapterServiceImpl> adapter_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  // Accepts the gRPC server's connections (Note [Accepting connections]).
  std::unique_ptr<ConnectionAcceptor> connection_acceptor_;
  std::unique_ptr<MetricsExposer> metrics_exposer_;
  int port_ = 0;
  int metrics_port_ = 0;
  // Note [File descriptor budget]: 0 = none.
  int64_t connection_fd_ceiling_ = 0;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_SERVER_APP_H_
