#include "service/server/server_app.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "proto/grpc/health/v1/health.pb.h"
#include "service/grpc/fd_limits.h"
#include "service/grpc/raw_messages.h"
#include "service/server/seed_adapters.h"
#include "service/server/upload_compression.h"

namespace loraplex::service {
namespace {

// Note [Shutdown order]: a generation call must never be cut off between
// its last message and its status. It was, twice:
//  - gRPC's Server::Shutdown was given one deadline (grace + 5 s) at the
//    start, racing the engine's own grace: when the engine took longer to
//    end its streams, gRPC cancelled every call and closed every connection
//    while the last messages and statuses were on their way;
//  - then, with gRPC's graceful shutdown (GOAWAY) started at once and the
//    clocks chained, still about 1 in 15 short-grace shutdowns on a busy
//    machine: the client read `finished`, then "recvmsg: Connection reset
//    by peer" instead of the status. GOAWAY is two-phase (a GOAWAY and a
//    ping, then the final GOAWAY once the client acknowledges the ping), and
//    a connection closes as soon as its last call ends after the final
//    GOAWAY: the server shuts the socket down while the client is still
//    reading, the client's next WINDOW_UPDATE is answered with a TCP reset,
//    and the client drops what it had received but not yet parsed.
// So GOAWAY is sent only once every generation call has handed over its
// status: the ping goes out behind the statuses, the client acknowledges it
// only after reading them, and only then does the connection close.
//   1. the serving gate closes (new calls: UNAVAILABLE), health turns
//      NOT_SERVING, no new connections are accepted (gRPC and HTTP);
//   2. the engine gets `grace`, then cancels what still runs: every
//      generation has ended;
//   3. every generation call sends its last message and its status, and
//      every HTTP API request its answer (generation_calls_ drains, the HTTP
//      server goes idle; a client that stops reading is waited for at most
//      kGenerationCallsDrainLimit);
//   4. gRPC's graceful shutdown starts (GOAWAY) with no deadline of its
//      own; other calls (uploads) get their own grace
//      (shutdown_grace_for_other_calls), after which gRPC cancels the rest
//      and closes the connections.
constexpr absl::Duration kGenerationCallsDrainLimit = absl::Seconds(10);
// Once no call is left, gRPC closes each connection when its client has
// acknowledged the GOAWAY ping; cancelling "all calls" would close them at
// once instead (Note [Shutdown order]). A client that never answers is
// waited for this long.
constexpr absl::Duration kConnectionsCloseLimit = absl::Seconds(10);

absl::StatusOr<std::unique_ptr<ApiKeyStore>> LoadApiKeys(
    const std::string& path) {
  if (path.empty()) {
    LogWarning("*****************************************************");
    LogWarning("* NO --api-keys GIVEN: THE SERVER RUNS OPEN.          *");
    LogWarning("* Every caller acts as tenant \"%s\", without a key. *",
               kDefaultTenant);
    LogWarning("*****************************************************");
    return ApiKeyStore::Open();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ApiKeyStore> keys,
                   ApiKeyStore::LoadFile(path));
  LogInfo("api keys: %d keys of %d tenants from %s", keys->num_keys(),
          keys->num_tenants(), path);
  return keys;
}

}  // namespace

std::string BaseModelId(const std::string& model_dir) {
  std::string dir = model_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

int32_t ResolvedQueueSharePerTenant(const ServerOptions& options) {
  const engine::EngineOptions& engine = options.engine;
  if (engine.max_queued_per_tenant != kAutomaticQueueSharePerTenant) {
    return engine.max_queued_per_tenant;
  }
  if (options.api_keys_file.empty()) return 0;  // Open mode: one tenant.
  // See Note [Per-tenant queue share].
  return std::max(1, (engine.max_queued_requests + kQueueShareDivisor - 1) /
                         kQueueShareDivisor);
}

namespace {

void LogEngine(const engine::EngineOptions& options,
               const engine::ModelInfo& info) {
  LogInfo(
      "model: %s (%d layers, hidden %d, vocab %d, %s)", options.model_dir,
      info.config.num_hidden_layers, info.config.hidden_size,
      info.config.vocab_size,
      info.has_tokenizer ? "with tokenizer" : "NO tokenizer: token ids only");
  LogInfo(
      "engine: device %s, dtype %s, max_seq_len %d, max_batch_size %d, "
      "max_prefill_tokens %d",
      info.device, info.dtype, info.max_seq_len, options.max_batch_size,
      options.max_prefill_tokens);
  LogInfo(
      "adapters: device memory for %d of max rank %d (more of lower rank), "
      "%d in host memory; queue: %d requests, %d per tenant (0 = unbounded)",
      options.max_resident_adapters, options.max_lora_rank,
      options.max_host_adapters, options.max_queued_requests,
      options.max_queued_per_tenant);
}

// Engine::ValidateAdapter for uploads. Its messages start "adapter <dir>: ";
// the directory is the server's staging path, which clients have no use
// for (and should not see). A file the engine finds missing is the upload's
// fault: INVALID_ARGUMENT, not NOT_FOUND. A rank over the limit says how to
// ask for compression.
AdapterValidator UploadValidator(engine::Engine* engine,
                                 int64_t max_lora_rank) {
  return [engine, max_lora_rank](const std::string& staged_dir)
             -> absl::StatusOr<engine::LoraAdapterSummary> {
    absl::StatusOr<engine::LoraAdapterSummary> summary =
        engine->ValidateAdapter(staged_dir);
    if (summary.ok()) return summary;
    const absl::Status& error = summary.status();
    const std::string message = absl::StrReplaceAll(
        error.message(), {{absl::StrCat("adapter ", staged_dir, ": "), ""},
                          {staged_dir, "<upload>"}});
    const absl::StatusCode code = absl::IsNotFound(error)
                                      ? absl::StatusCode::kInvalidArgument
                                      : error.code();
    return WithCompressionHint(
        absl::Status(code, absl::StrCat("invalid adapter: ", message)),
        staged_dir, max_lora_rank);
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerApp>> ServerApp::Start(
    const ServerOptions& options) {
  std::unique_ptr<ServerApp> app(new ServerApp());
  ASSIGN_OR_RETURN(const FdLimits fd_limits, RaiseFileDescriptorLimit());
  app->connection_fd_ceiling_ = ConnectionFdCeiling(fd_limits.soft);
  // Taken before the file is read: a change while it is read is reloaded.
  const std::optional<FileIdentity> key_file =
      IdentityOf(options.api_keys_file);
  ASSIGN_OR_RETURN(app->api_keys_, LoadApiKeys(options.api_keys_file));
  if (!options.api_keys_file.empty() &&
      options.api_keys_check_interval > absl::ZeroDuration()) {
    ServerApp* raw = app.get();
    app->key_file_watcher_ = std::make_unique<FileChangeWatcher>(
        options.api_keys_file, key_file, options.api_keys_check_interval,
        [raw] { raw->ReloadApiKeys().IgnoreError(); });
  }
  app->prometheus_registry_ = std::make_shared<prometheus::Registry>();
  ServerMetricsOptions metrics_options;
  metrics_options.adapter_labels = options.metrics_adapter_labels;
  ASSIGN_OR_RETURN(
      app->metrics_,
      ServerMetrics::Create(*app->prometheus_registry_, metrics_options));
  RETURN_IF_ERROR(app->StartHttpApi(options));
  RETURN_IF_ERROR(app->StartEngine(options));
  RETURN_IF_ERROR(app->OpenRegistry(options));
  app->scrubber_ = std::make_unique<ErrorScrubber>(options.registry_dir,
                                                   options.engine.model_dir);
  app->uploads_ = std::make_unique<UploadSupervisor>(options.upload_limits);
  // Note [No RPC kind starves another]. Each upload queues at most one
  // commit, so the commit queue never refuses one the supervisor admitted.
  app->upload_executor_ = std::make_unique<BlockingExecutor>(
      BlockingExecutor::Options{"upload commit", options.blocking_threads,
                                options.upload_limits.max_concurrent});
  app->registry_executor_ = std::make_unique<BlockingExecutor>(
      BlockingExecutor::Options{"registry", 1, 1024});
  RETURN_IF_ERROR(app->StartMetricsExposer(options));
  RETURN_IF_ERROR(app->StartGrpcServer(options));
  RETURN_IF_ERROR(app->ServeHttpApi(options));
  LogInfo("loraplex-server listening on %s (port %d); metrics %s; HTTP API %s",
          options.listen_address, app->port_,
          app->metrics_port_ > 0
              ? absl::StrCat("on port ", app->metrics_port_, " at /metrics")
              : std::string("disabled"),
          app->http_port_ > 0
              ? absl::StrCat("on port ", app->http_port_, " at /v1")
              : std::string("disabled"));
  return app;
}

absl::Status ServerApp::StartEngine(const ServerOptions& options) {
  engine::EngineOptions engine_options = options.engine;
  engine_options.max_queued_per_tenant = ResolvedQueueSharePerTenant(options);
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Create(engine_options, metrics_.get());
  if (!engine.ok()) {
    return absl::Status(
        engine.status().code(),
        absl::StrCat("loading the model from ", options.engine.model_dir, ": ",
                     engine.status().message()));
  }
  engine_ = *std::move(engine);
  LogEngine(engine_options, engine_->model_info());
  return absl::OkStatus();
}

absl::Status ServerApp::OpenRegistry(const ServerOptions& options) {
  FilesystemAdapterRegistryOptions registry_options;
  registry_options.root_dir = options.registry_dir;
  registry_options.max_upload_bytes = options.max_upload_bytes;
  registry_options.max_adapters_per_tenant = options.max_adapters_per_tenant;
  registry_options.verify_checksums_on_open = options.verify_registry_checksums;
  registry_options.validator =
      UploadValidator(engine_.get(), options.engine.max_lora_rank);
  registry_options.compressor = UploadCompressor(options.engine.max_lora_rank);
  ASSIGN_OR_RETURN(
      registry_, FilesystemAdapterRegistry::Open(std::move(registry_options)));
  if (!options.seed_adapters_dir.empty()) {
    SeedAdapters(*registry_, options.seed_adapters_dir, kSeedTenant);
  }
  int registered = 0;
  for (const AdapterRecord& record : registry_->ListAll()) {
    const absl::Status status = engine_->RegisterAdapter(
        record.engine_adapter_id(), registry_->adapter_dir(record));
    if (status.ok()) {
      ++registered;
    } else {
      LogError("adapter %s is stored but could not be registered: %s",
               record.ref().ToString(), status.ToString());
    }
  }
  LogInfo("registry %s: %d adapters served", registry_->root_dir(), registered);
  return absl::OkStatus();
}

absl::Status ServerApp::StartMetricsExposer(const ServerOptions& options) {
  engine::Engine* engine = engine_.get();
  ServerMetrics* metrics = metrics_.get();
  ASSIGN_OR_RETURN(
      metrics_exposer_,
      MetricsExposer::Start(
          options.metrics_listen, prometheus_registry_,
          [engine, metrics] { metrics->UpdateEngineStats(engine->Stats()); }));
  if (metrics_exposer_ != nullptr) {
    const std::vector<int> ports = metrics_exposer_->listening_ports();
    if (!ports.empty()) metrics_port_ = ports.front();
  }
  return absl::OkStatus();
}

absl::Status ServerApp::StartHttpApi(const ServerOptions& options) {
  ASSIGN_OR_RETURN(http_api_, OpenAiHttpServer::Start(options.http_listen,
                                                      options.http_limits));
  if (http_api_ != nullptr) http_port_ = http_api_->port();
  return absl::OkStatus();
}

absl::Status ServerApp::ServeHttpApi(const ServerOptions& options) {
  if (http_api_ == nullptr) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<chat::ChatTemplate>> chat_template =
      chat::LoadChatTemplate(options.engine.model_dir,
                             options.chat_template_file);
  if (chat_template.ok()) {
    chat_template_ = *std::move(chat_template);
  } else if (absl::IsNotFound(chat_template.status()) &&
             options.chat_template_file.empty()) {
    LogWarning(
        "the model has no chat template: /v1/chat/completions refuses "
        "requests (give one with --chat-template FILE)");
  } else {
    return absl::Status(
        chat_template.status().code(),
        absl::StrCat("chat template: ", chat_template.status().message()));
  }
  OpenAiDeps deps;
  deps.engine = engine_.get();
  deps.registry = registry_.get();
  deps.api_keys = api_keys_.get();
  deps.metrics = metrics_.get();
  deps.scrubber = scrubber_.get();
  deps.chat_template = chat_template_.get();
  deps.base_model_id = options.served_model_name.empty()
                           ? BaseModelId(options.engine.model_dir)
                           : options.served_model_name;
  deps.started = absl::Now();
  LogInfo(
      "HTTP API: base model id \"%s\"; %d threads, %d waiting "
      "connections, request timeout %s, write timeout %s, %d request "
      "bytes",
      deps.base_model_id, options.http_limits.worker_threads,
      options.http_limits.max_waiting_connections,
      absl::FormatDuration(options.http_limits.request_deadline),
      absl::FormatDuration(options.http_limits.write_timeout),
      options.http_limits.max_request_bytes);
  http_api_->Serve(std::move(deps));
  return absl::OkStatus();
}

absl::Status ServerApp::StartGrpcServer(const ServerOptions& options) {
  ServicerDeps deps;
  deps.engine = engine_.get();
  deps.registry = registry_.get();
  deps.api_keys = api_keys_.get();
  deps.metrics = metrics_.get();
  deps.upload_executor = upload_executor_.get();
  deps.registry_executor = registry_executor_.get();
  deps.uploads = uploads_.get();
  deps.scrubber = scrubber_.get();
  deps.serving_gate = &serving_gate_;
  // Note [Raw requests]: clients' invalid UTF-8 is answered, not logged.
  DropProtobufUtf8ParseErrorLogs();
  generation_service_ = std::make_unique<GenerationServiceImpl>(deps);
  adapter_service_ = std::make_unique<AdapterServiceImpl>(deps);

  // Both are process-wide switches, read when the builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Links grpc.health.v1's descriptors in, so that reflection describes the
  // health service too.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();

  // Note [Accepting connections]: the server listens and accepts itself.
  ASSIGN_OR_RETURN(connection_acceptor_,
                   ConnectionAcceptor::Listen(
                       {options.listen_address, connection_fd_ceiling_}));
  port_ = connection_acceptor_->port();
  grpc::ServerBuilder builder;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> connections =
      builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::
              FROM_FD,
          grpc::InsecureServerCredentials());
  builder.RegisterService(generation_service_.get());
  builder.RegisterService(adapter_service_.get());
  generation_calls_ = std::make_unique<InFlightCalls>(
      InFlightCalls::Selection::kService,
      v1::GenerationService::service_full_name());
  other_calls_ = std::make_unique<InFlightCalls>(
      InFlightCalls::Selection::kAllButService,
      v1::GenerationService::service_full_name());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(generation_calls_->NewInterceptorFactory());
  interceptors.push_back(other_calls_->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  shutdown_grace_for_other_calls_ = options.shutdown_grace_for_other_calls;
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port_ == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot serve gRPC on \"", options.listen_address,
                     "\" (address in use or invalid)"));
  }
  connection_acceptor_->Start(std::move(connections));
  grpc::HealthCheckServiceInterface* health =
      grpc_server_->GetHealthCheckService();
  if (health != nullptr) {  // The engine is up: everything serves.
    health->SetServingStatus(true);
    health->SetServingStatus(v1::GenerationService::service_full_name(), true);
    health->SetServingStatus(v1::AdapterService::service_full_name(), true);
  }
  return absl::OkStatus();
}

void ServerApp::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  LogInfo("shutting down (grace %s)", absl::FormatDuration(grace));
  // See Note [Shutdown order].
  std::thread graceful_stop;
  absl::Notification grpc_stopped;
  serving_gate_.Close();
  if (grpc_server_ != nullptr) {
    grpc::HealthCheckServiceInterface* health =
        grpc_server_->GetHealthCheckService();
    if (health != nullptr) health->Shutdown();  // NOT_SERVING, for good.
    connection_acceptor_->Stop();               // No new connections.
  }
  if (http_api_ != nullptr) http_api_->StopAccepting();
  if (engine_ != nullptr) engine_->Shutdown(grace);
  const absl::Time drain_deadline = absl::Now() + kGenerationCallsDrainLimit;
  if (http_api_ != nullptr) {
    if (!http_api_->AwaitIdle(drain_deadline)) {
      LogWarning("HTTP API answers still sending after %s: cut off",
                 absl::FormatDuration(kGenerationCallsDrainLimit));
    }
    http_api_.reset();
  }
  if (grpc_server_ != nullptr) {
    if (!generation_calls_->AwaitNone(drain_deadline)) {
      LogWarning("%d generation calls still sending after %s: cancelled",
                 generation_calls_->count(),
                 absl::FormatDuration(kGenerationCallsDrainLimit));
    }
    // No deadline here: the next lines decide when the rest is cancelled.
    graceful_stop = std::thread([this, &grpc_stopped] {
      grpc_server_->Shutdown();
      grpc_stopped.Notify();
    });
    if (!other_calls_->AwaitNone(absl::Now() +
                                 shutdown_grace_for_other_calls_)) {
      LogWarning("%d other calls still running after %s: cancelled",
                 other_calls_->count(),
                 absl::FormatDuration(shutdown_grace_for_other_calls_));
      // What Server::Shutdown(deadline) does at its deadline.
      grpc_server_cancel_all_calls(grpc_server_->c_server());
    } else if (!grpc_stopped.WaitForNotificationWithTimeout(
                   kConnectionsCloseLimit)) {
      LogWarning("connections still open %s after their last call: closed",
                 absl::FormatDuration(kConnectionsCloseLimit));
      grpc_server_cancel_all_calls(grpc_server_->c_server());
    }
    graceful_stop.join();
    grpc_server_->Wait();
  }
  LogInfo("shut down");
}

absl::Status ServerApp::ReloadApiKeys() {
  const absl::Status status = api_keys_->Reload();
  if (status.ok()) {
    LogInfo("api keys reloaded: %d keys of %d tenants", api_keys_->num_keys(),
            api_keys_->num_tenants());
  } else {
    LogError("api keys NOT reloaded, the previous keys stay in force: %s",
             status.ToString());
  }
  return status;
}

ServerApp::~ServerApp() { Shutdown(absl::ZeroDuration()); }

}  // namespace loraplex::service
