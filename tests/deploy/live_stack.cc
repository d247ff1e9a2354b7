#include "tests/deploy/live_stack.h"

#include <fstream>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "service/auth/sha256.h"
#include "tools/client/adapter_upload.h"
#include "tools/client/connection.h"
#include "tools/metrics_client/http_get.h"

namespace loraplex::deploy_test {
namespace {

namespace v1 = ::loraplex::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

constexpr char kAcmeKey[] = "acme-deploy-test-key";
constexpr char kGlobexKey[] = "globex-deploy-test-key";
constexpr char kUnknownKey[] = "not-a-key-of-this-server";

// The last `max_bytes` of `log`, for failure messages.
std::string Tail(const std::string& log, size_t max_bytes = 4000) {
  return log.size() <= max_bytes ? log : log.substr(log.size() - max_bytes);
}

absl::Status WithLog(const absl::Status& status, const std::string& name,
                     const std::string& log) {
  return absl::Status(
      status.code(),
      absl::StrCat(status.message(), "\n--- ", name, " log ---\n", Tail(log)));
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

tools::ConnectionOptions Connection(int port, const std::string& api_key) {
  tools::ConnectionOptions options;
  options.server = absl::StrCat("127.0.0.1:", port);
  options.api_key = api_key;
  options.timeout = absl::Seconds(60);
  return options;
}

// The server answers health checks from the moment it reports its port.
absl::Status CheckServing(int port) {
  auto stub = Health::NewStub(tools::MakeChannel(Connection(port, "")));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  HealthCheckResponse response;
  const grpc::Status status =
      stub->Check(&context, HealthCheckRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("health check: ", status.error_message()));
  }
  if (response.status() != HealthCheckResponse::SERVING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "health: ",
        HealthCheckResponse::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

// The port in Prometheus's log line
//   ... msg="Listening on" address=127.0.0.1:43659
// false until it is there.
bool PrometheusPort(const std::string& log, int* port) {
  const size_t at = log.find("msg=\"Listening on\" address=");
  if (at == std::string::npos) return false;
  const size_t end = log.find('\n', at);
  if (end == std::string::npos) return false;
  const std::string line = log.substr(at, end - at);
  return absl::SimpleAtoi(line.substr(line.rfind(':') + 1), port);
}

v1::GenerateRequest MakeRequest(const std::string& adapter,
                                int max_new_tokens) {
  v1::GenerateRequest request;
  request.set_adapter(adapter);
  for (int id : {1, 5, 9}) request.mutable_token_ids()->add_ids(id);
  request.mutable_stopping()->set_max_new_tokens(max_new_tokens);
  request.mutable_stopping()->set_ignore_eos(true);
  return request;
}

// One Generate call that must end with `expected`.
absl::Status Generate(v1::GenerationService::Stub& stub,
                      const tools::ConnectionOptions& connection,
                      const std::string& adapter, int max_new_tokens,
                      absl::StatusCode expected) {
  grpc::ClientContext context;
  tools::PrepareContext(connection, &context);
  v1::GenerateResponse response;
  const absl::Status status = tools::FromGrpcStatus(
      stub.Generate(&context, MakeRequest(adapter, max_new_tokens), &response));
  if (status.code() != expected) {
    return absl::InternalError(absl::StrCat(
        "Generate(adapter \"", adapter, "\"): expected ",
        absl::StatusCodeToString(expected), ", got ", status.ToString()));
  }
  if (status.ok() && response.token_ids_size() != max_new_tokens) {
    return absl::InternalError(absl::StrCat(
        "Generate returned ", response.token_ids_size(), " tokens"));
  }
  return absl::OkStatus();
}

absl::Status GenerateStream(v1::GenerationService::Stub& stub,
                            const tools::ConnectionOptions& connection,
                            int max_new_tokens) {
  grpc::ClientContext context;
  tools::PrepareContext(connection, &context);
  auto reader = stub.GenerateStream(&context, MakeRequest("", max_new_tokens));
  v1::GenerateStreamResponse message;
  bool finished = false;
  while (reader->Read(&message)) finished = message.has_finished();
  RETURN_IF_ERROR(tools::FromGrpcStatus(reader->Finish()));
  if (!finished) return absl::InternalError("stream ended without finished");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LiveStack>> LiveStack::Start(
    const LiveStackOptions& options) {
  std::unique_ptr<LiveStack> stack(new LiveStack());
  RETURN_IF_ERROR(stack->StartServer(options));
  RETURN_IF_ERROR(stack->SendTraffic(options));
  ASSIGN_OR_RETURN(stack->scrape_, stack->ScrapeNow());
  RETURN_IF_ERROR(stack->StartPrometheus(options));
  return stack;
}

LiveStack::~LiveStack() { Stop().IgnoreError(); }

absl::Status LiveStack::StartServer(const LiveStackOptions& options) {
  const std::string keys_file = dir_.Join("api-keys");
  RETURN_IF_ERROR(WriteFile(
      keys_file,
      absl::StrCat("acme tenant ", service::Sha256Hex(kAcmeKey), "\n",
                   "globex tenant ", service::Sha256Hex(kGlobexKey), "\n")));
  ASSIGN_OR_RETURN(
      server_, testing::ServerProcess::Start({"--model=" + options.model_dir,
                                              "--api-keys=" + keys_file,
                                              // The per-adapter series too.
                                              "--metrics-adapter-labels=2"}));
  const absl::Status serving = CheckServing(server_->port());
  return serving.ok() ? serving
                      : WithLog(serving, "loraplex-server", server_->log());
}

absl::Status LiveStack::SendTraffic(const LiveStackOptions& options) {
  const int port = server_->port();
  const tools::ConnectionOptions acme = Connection(port, kAcmeKey);
  const tools::ConnectionOptions globex = Connection(port, kGlobexKey);
  auto channel = tools::MakeChannel(acme);
  auto adapters = v1::AdapterService::NewStub(channel);
  auto generation = v1::GenerationService::NewStub(channel);
  const int n = options.max_new_tokens;
  tools::AdapterUploadSpec upload;
  upload.name = kUploadedAdapterName;
  upload.dir = options.adapter_dir;
  absl::Status status =
      tools::UploadAdapterDir(*adapters, acme, upload).status();
  for (int i = 0; status.ok() && i < TrafficCounts::kAcmeBaseGenerates; ++i) {
    status = Generate(*generation, acme, "", n, absl::StatusCode::kOk);
  }
  for (int i = 0; status.ok() && i < TrafficCounts::kAcmeAdapterGenerates;
       ++i) {
    status = Generate(*generation, acme, kUploadedAdapterName, n,
                      absl::StatusCode::kOk);
  }
  if (status.ok()) status = GenerateStream(*generation, globex, n);
  if (status.ok()) {
    status = Generate(*generation, globex, "no-such-adapter", n,
                      absl::StatusCode::kNotFound);
  }
  if (status.ok()) {
    status = Generate(*generation, Connection(port, kUnknownKey), "", n,
                      absl::StatusCode::kUnauthenticated);
  }
  return status.ok() ? status
                     : WithLog(status, "loraplex-server", server_->log());
}

absl::StatusOr<ScrapedMetrics> LiveStack::ScrapeNow() const {
  ASSIGN_OR_RETURN(
      const std::string body,
      metrics_client::HttpGetBody(server_->metrics_url(), absl::Seconds(60)));
  return ScrapedMetrics::Parse(body);
}

absl::Status LiveStack::StartPrometheus(const LiveStackOptions& options) {
  const std::string config = dir_.Join("prometheus.yml");
  // The shipped job name, so the rules' up{job="loraplex"} applies.
  RETURN_IF_ERROR(WriteFile(
      config,
      absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "rule_files:\n  - ",
                   options.rules_file, "\n",
                   "scrape_configs:\n  - job_name: loraplex\n"
                   "    static_configs:\n      - targets: [\"127.0.0.1:",
                   server_->metrics_port(), "\"]\n")));
  ASSIGN_OR_RETURN(
      prometheus_,
      testing::ChildProcess::Start(
          {options.prometheus_path, "--config.file=" + config,
           "--storage.tsdb.path=" + dir_.Join("tsdb"),
           "--web.listen-address=127.0.0.1:0", "--log.level=info"}));
  // Its log says which port it took, then that it is ready.
  const bool ready = prometheus_->WaitForOutput(
      [this](const std::string& out, const std::string& err) {
        return PrometheusPort(err, &prometheus_port_) &&
               err.find("Server is ready to receive web requests") !=
                   std::string::npos;
      },
      absl::Seconds(120));
  if (!ready) {
    return WithLog(absl::FailedPreconditionError(absl::StrCat(
                       "prometheus not ready (", prometheus_->Describe(), ")")),
                   "prometheus", prometheus_->err());
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> LiveStack::PrometheusApi(
    const std::string& endpoint, const std::string& query) const {
  const std::string path =
      absl::StrCat("/api/v1/", endpoint, query.empty() ? "" : "?", query);
  ASSIGN_OR_RETURN(const metrics_client::HttpResponse response,
                   metrics_client::HttpGet(
                       metrics_client::LoopbackUrl(prometheus_port_, path),
                       absl::Seconds(60)));
  const nlohmann::json body =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return absl::DataLossError(
        absl::StrCat(path, ": not JSON (HTTP ", response.status_code, ")"));
  }
  if (response.status_code != 200 || body.value("status", "") != "success") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": HTTP ", response.status_code, ": ",
                     body.value("error", std::string("no error message"))));
  }
  return body["data"];
}

absl::StatusOr<nlohmann::json> LiveStack::WaitForQuery(
    const std::string& promql,
    const std::function<bool(const nlohmann::json&)>& accept,
    absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<nlohmann::json> data;
  do {
    data = PrometheusApi("query", "query=" + metrics_client::UrlEncode(promql));
    if (data.ok() && accept(*data)) return data;
    absl::SleepFor(absl::Seconds(1));  // The evaluation interval.
  } while (absl::Now() < deadline);
  return absl::DeadlineExceededError(absl::StrCat(
      "query ", promql, " not accepted after ", absl::FormatDuration(timeout),
      "; last: ", data.ok() ? data->dump() : data.status().ToString()));
}

absl::Status LiveStack::Stop() {
  absl::Status result;
  if (prometheus_ != nullptr) {
    const int code = prometheus_->Stop(absl::Seconds(30));
    if (code != 0) {
      result = WithLog(absl::FailedPreconditionError(absl::StrCat(
                           "prometheus ", prometheus_->Describe())),
                       "prometheus", prometheus_->err());
    }
    prometheus_.reset();
  }
  if (server_ != nullptr) {
    const int code = server_->Stop(absl::Seconds(60));
    if (code != 0 && result.ok()) {
      result = WithLog(
          absl::FailedPreconditionError(absl::StrCat(
              "loraplex-server ", server_->process().Describe(),
              server_->process().was_killed() ? " (ignored SIGTERM)" : "")),
          "loraplex-server", server_->log());
    }
    server_.reset();
  }
  return result;
}

}  // namespace loraplex::deploy_test
