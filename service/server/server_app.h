// The whole server wired together, for `loraplex-server`'s main and for the
// end-to-end tests (which run the same objects in-process): engine, durable
// adapter registry, API keys, metrics (+ exposer), the gRPC servicers with
// health checking and reflection.
//
// Start-up order: API keys (fail fast) and their file watcher, metrics,
// engine (loads the model), registry (recovers what was committed), seed
// adapters, register every stored adapter with the engine, metrics exposer,
// gRPC server. Shutdown is the reverse and graceful; see Shutdown().
#ifndef LORAPLEX_SERVICE_SERVER_SERVER_APP_H_
#define LORAPLEX_SERVICE_SERVER_SERVER_APP_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/chat_template/chat_template.h"
#include "engine/engine.h"
#include "prometheus/registry.h"
#include "service/auth/api_key_store.h"
#include "service/frontend/error_scrubber.h"
#include "service/grpc/adapter_service.h"
#include "service/grpc/blocking_executor.h"
#include "service/grpc/connection_acceptor.h"
#include "service/grpc/generation_service.h"
#include "service/grpc/serving_gate.h"
#include "service/grpc/upload_supervisor.h"
#include "service/http/openai_http_server.h"
#include "service/metrics/metrics_exposer.h"
#include "service/metrics/server_metrics.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "service/server/file_change_watcher.h"
#include "service/server/in_flight_calls.h"
#include "service/server/server_options.h"

namespace loraplex::service {

// Note [Per-tenant queue share]: with API keys (several tenants, or some
// added later by a reload), one tenant may hold at most a quarter of the
// admission queue (rounded up), so a tenant that floods the server leaves
// three quarters to everyone else, and it takes four tenants saturating at
// once to fill it; a burst of one tenant up to that size is still absorbed.
// (An even split by the number of tenants would shrink every tenant's
// share as tenants are added, down to one request each.) In open mode
// there is one tenant: no bound. An explicit --max-queued-per-tenant wins.
inline constexpr int32_t kQueueShareDivisor = 4;

// engine.max_queued_per_tenant as the engine gets it: `options`' value,
// or, when that is kAutomaticQueueSharePerTenant, the rule above.
int32_t ResolvedQueueSharePerTenant(const ServerOptions& options);

// The base model's id in the HTTP API without --served-model-name: the
// model directory's last component ("models/demo/" -> "demo").
std::string BaseModelId(const std::string& model_dir);

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
  // connections or calls, requests already running get up to `grace` to
  // finish (then the engine cancels them: finish reason CANCELLED), and
  // every generation call sends its last message and its status; other
  // calls (uploads) get the options' shutdown_grace_for_other_calls more,
  // then everything is torn down. Thread-safe; later calls wait for the
  // first to complete. Blocks until done. See Note [Shutdown order].
  void Shutdown(absl::Duration grace) ABSL_LOCKS_EXCLUDED(shutdown_mu_);

  // Re-reads the API key file (SIGHUP; also run when the file changes):
  // on success the new keys apply to every call from now on; on error the
  // old keys stay. Logs the outcome. FAILED_PRECONDITION in open mode.
  // Thread-safe.
  absl::Status ReloadApiKeys();

  int port() const { return port_; }  // The bound gRPC port.
  // The bound metrics port; 0 when the exposer is disabled.
  int metrics_port() const { return metrics_port_; }
  // The bound port of the OpenAI-compatible HTTP API; 0 when disabled.
  int http_port() const { return http_port_; }

  engine::Engine& engine() { return *engine_; }
  FilesystemAdapterRegistry& registry() { return *registry_; }
  ServerMetrics& metrics() { return *metrics_; }

 private:
  ServerApp() = default;

  absl::Status StartEngine(const ServerOptions& options);
  absl::Status OpenRegistry(const ServerOptions& options);
  absl::Status StartMetricsExposer(const ServerOptions& options);
  // Listens for the HTTP API (503 until ServeHttpApi); a no-op when
  // disabled.
  absl::Status StartHttpApi(const ServerOptions& options);
  // Loads the chat template and serves the HTTP API.
  absl::Status ServeHttpApi(const ServerOptions& options);
  absl::Status StartGrpcServer(const ServerOptions& options);

  // Declared in construction order; destroyed in reverse, so nothing is
  // destroyed while something declared after it may still call it.
  std::shared_ptr<prometheus::Registry> prometheus_registry_;
  std::unique_ptr<ServerMetrics> metrics_;  // The engine's observer.
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<FilesystemAdapterRegistry> registry_;
  std::unique_ptr<ApiKeyStore> api_keys_;
  // Reloads api_keys_ when the key file changes; null in open mode or with
  // a zero check interval.
  std::unique_ptr<FileChangeWatcher> key_file_watcher_;
  std::unique_ptr<ErrorScrubber> scrubber_;
  std::unique_ptr<UploadSupervisor> uploads_;
  std::unique_ptr<BlockingExecutor> upload_executor_;
  std::unique_ptr<BlockingExecutor> registry_executor_;
  ServingGate serving_gate_;  // Closed by Shutdown().
  std::unique_ptr<GenerationServiceImpl> generation_service_;
  std::unique_ptr<AdapterServiceImpl> adapter_service_;
  // Generation calls in flight; counted by the gRPC server (which it must
  // outlive, so it is declared before it).
  std::unique_ptr<InFlightCalls> generation_calls_;
  std::unique_ptr<InFlightCalls> other_calls_;  // Uploads, health, ...
  std::unique_ptr<grpc::Server> grpc_server_;
  // Accepts the gRPC server's connections (Note [Accepting connections]).
  std::unique_ptr<ConnectionAcceptor> connection_acceptor_;
  std::unique_ptr<MetricsExposer> metrics_exposer_;
  // The model's chat template for the HTTP API; null when it has none.
  std::unique_ptr<chat::ChatTemplate> chat_template_;
  // Listens from before the engine loads (answering 503 until then), and
  // is destroyed first: its handlers use everything above.
  std::unique_ptr<OpenAiHttpServer> http_api_;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  absl::Duration shutdown_grace_for_other_calls_;
  // Note [File descriptor budget]: 0 = none.
  int64_t connection_fd_ceiling_ = 0;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_SERVER_APP_H_
