// What every servicer needs, owned elsewhere (by the ServerApp, which
// creates them before the gRPC server starts and destroys them after it has
// shut down and every RPC is done).
#ifndef LORAPLEX_SERVICE_GRPC_SERVICER_DEPS_H_
#define LORAPLEX_SERVICE_GRPC_SERVICER_DEPS_H_

#include "engine/engine.h"
#include "service/auth/api_key_store.h"
#include "service/frontend/error_scrubber.h"
#include "service/grpc/blocking_executor.h"
#include "service/grpc/serving_gate.h"
#include "service/grpc/upload_supervisor.h"
#include "service/metrics/server_metrics.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

struct ServicerDeps {
  engine::Engine* engine = nullptr;
  AdapterRegistry* registry = nullptr;
  const ApiKeyStore* api_keys = nullptr;
  ServerMetrics* metrics = nullptr;
  // Note [No RPC kind starves another]: upload commits (verify, validate,
  // fsync, rename) run here ...
  BlockingExecutor* upload_executor = nullptr;
  // ... and the registry's other file I/O (deletions) here.
  BlockingExecutor* registry_executor = nullptr;
  // Note [Upload limits].
  UploadSupervisor* uploads = nullptr;
  // Note [Client-visible errors].
  const ErrorScrubber* scrubber = nullptr;
  // Closed at shutdown: new calls are refused. Null: always open.
  const ServingGate* serving_gate = nullptr;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_SERVICER_DEPS_H_
