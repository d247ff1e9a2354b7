// Everything `loraplex-server` can be told, with its defaults: one struct
// filled from flags in one place (server_flags.h) and handed to ServerApp.
#ifndef LORAPLEX_SERVICE_SERVER_SERVER_OPTIONS_H_
#define LORAPLEX_SERVICE_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "engine/engine.h"
#include "service/grpc/upload_supervisor.h"
#include "service/http/bounded_http_server.h"
#include "service/http/openai_http_server.h"

namespace loraplex::service {

// engine.max_queued_per_tenant in a ServerOptions: "automatic", resolved by
// ServerApp (see ResolvedQueueSharePerTenant in server_app.h).
inline constexpr int32_t kAutomaticQueueSharePerTenant = -1;

struct ServerOptions {
  // gRPC address, "host:port"; port 0 picks a free one (ServerApp::port()).
  std::string listen_address = "0.0.0.0:50051";
  // Prometheus /metrics address; empty disables the exposer.
  std::string metrics_listen = "0.0.0.0:9090";
  // OpenAI-compatible HTTP API address ("host:port"; port 0 picks a free
  // one); "none" or empty disables it.
  std::string http_listen = kDefaultHttpListen;
  // Its threads, connection bound, deadlines and request size
  // (service/http/openai_http_server.h).
  HttpServerLimits http_limits = DefaultOpenAiHttpLimits();
  // The base model's id in the HTTP API; empty = the model directory's
  // name (e.g. "demo").
  std::string served_model_name;
  // A Jinja chat template file that replaces the model's
  // (tokenizer_config.json chat_template or chat_template.jinja).
  std::string chat_template_file;
  // Adapters with their own label on the per-adapter series (Note [Adapter
  // metric labels], service/metrics/adapter_label_set.h); 0 = off.
  int32_t metrics_adapter_labels = 0;
  // API key file (service/auth/api_key_store.h); empty = open mode, every
  // call acts as the tenant "default".
  std::string api_keys_file;
  // How often the key file is checked for changes (reloaded once a change
  // has settled for this long); zero = only on SIGHUP.
  absl::Duration api_keys_check_interval = absl::Seconds(2);
  // Root of the durable adapter registry (created if missing).
  std::string registry_dir = "loraplex-registry";
  // A directory of PEFT adapters (<dir>/<name>/) stored on start as tenant
  // "demo", PUBLIC, unless already present; empty = none.
  std::string seed_adapters_dir;
  // Model, device, dtype, batch/KV/cache/queue limits, max LoRA rank. The
  // per-tenant queue share starts out automatic.
  engine::EngineOptions engine = [] {
    engine::EngineOptions defaults;
    defaults.max_queued_per_tenant = kAutomaticQueueSharePerTenant;
    return defaults;
  }();
  uint64_t max_upload_bytes = uint64_t{512} << 20;  // One upload's files.
  int32_t max_adapters_per_tenant = 100;            // 0 = no limit.
  // SIGTERM/SIGINT: how long in-flight requests may run before cancelled.
  absl::Duration shutdown_grace = absl::Seconds(30);
  // Once generation has ended, how much longer other calls (uploads) may
  // run before they are cancelled (Note [Shutdown order], server_app.cc).
  absl::Duration shutdown_grace_for_other_calls = absl::Seconds(5);
  // Threads for upload commits (verify, validate, fsync, rename); at most
  // one per tenant at a time (Note [No RPC kind starves another]).
  int32_t blocking_threads = 4;
  // Concurrent uploads and their deadlines (Note [Upload limits]).
  UploadLimits upload_limits;
  // --verify-registry-checksums: re-hash every stored adapter file at
  // start-up (start-up time then grows with the bytes stored); otherwise
  // only sizes are checked.
  bool verify_registry_checksums = false;
};

// The tenant that owns seeded adapters.
inline constexpr char kSeedTenant[] = "demo";

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_SERVER_OPTIONS_H_
