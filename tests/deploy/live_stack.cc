#include "tests/deploy/live_stack.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "service/auth/sha256.h"
#include "tests/deploy/loopback_http.h"
#include "tools/client/adapter_upload.h"
#include "tools/client/connection.h"

namespace loraplex::deploy_test {
namespace {

namespace v1 = ::loraplex::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

constexpr char kAcmeKey[] = "acme-deploy-test-key";
constexpr char kGlobexKey[] = "globex-deploy-test-key";
constexpr char kUnknownKey[] = "not-a-key-of-this-server";

absl::Status WithLog(const absl::Status& status, const ChildProcess& process) {
  return absl::Status(
      status.code(),
      absl::StrCat(status.message(), "\n--- ", process.log_path(), " ---\n",
                   TailOfFile(process.log_path())));
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

absl::Status WaitForServing(int port, ChildProcess& server,
                            absl::Duration timeout) {
  auto stub = Health::NewStub(tools::MakeChannel(Connection(port, "")));
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < deadline) {
    if (!server.Running()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "loraplex-server ", server.Describe(), " while starting"));
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    HealthCheckResponse response;
    const grpc::Status status =
        stub->Check(&context, HealthCheckRequest(), &response);
    if (status.ok() && response.status() == HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok()
               ? HealthCheckResponse::ServingStatus_Name(response.status())
               : status.error_message();
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("loraplex-server not SERVING after ",
                   absl::FormatDuration(timeout), " (last: ", last, ")"));
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
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp",
                                     "/loraplex-deploy-test-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern));
  }
  stack->dir_ = pattern;
  RETURN_IF_ERROR(stack->StartServer(options));
  RETURN_IF_ERROR(stack->SendTraffic(options));
  ASSIGN_OR_RETURN(stack->scrape_, stack->ScrapeNow());
  RETURN_IF_ERROR(stack->StartPrometheus(options));
  return stack;
}

LiveStack::~LiveStack() { Stop().IgnoreError(); }

absl::Status LiveStack::StartServer(const LiveStackOptions& options) {
  const std::string keys_file = dir_ + "/api-keys";
  RETURN_IF_ERROR(WriteFile(
      keys_file,
      absl::StrCat("acme tenant ", service::Sha256Hex(kAcmeKey), "\n",
                   "globex tenant ", service::Sha256Hex(kGlobexKey), "\n")));
  ASSIGN_OR_RETURN(grpc_port_, PickFreePort());
  ASSIGN_OR_RETURN(metrics_port_, PickFreePort());
  ASSIGN_OR_RETURN(
      server_,
      ChildProcess::Start(
          {options.server_path, absl::StrCat("--listen=127.0.0.1:", grpc_port_),
           absl::StrCat("--metrics-listen=127.0.0.1:", metrics_port_),
           "--registry-dir=" + dir_ + "/registry",
           "--model=" + options.model_dir, "--api-keys=" + keys_file,
           "--seed-adapters=", "--threads=1", "--shutdown-grace=5s"},
          dir_ + "/loraplex-server.log"));
  absl::Status serving =
      WaitForServing(grpc_port_, *server_, absl::Seconds(90));
  return serving.ok() ? serving : WithLog(serving, *server_);
}

absl::Status LiveStack::SendTraffic(const LiveStackOptions& options) {
  const tools::ConnectionOptions acme = Connection(grpc_port_, kAcmeKey);
  const tools::ConnectionOptions globex = Connection(grpc_port_, kGlobexKey);
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
    status = Generate(*generation, Connection(grpc_port_, kUnknownKey), "", n,
                      absl::StatusCode::kUnauthenticated);
  }
  return status.ok() ? status : WithLog(status, *server_);
}

absl::StatusOr<ScrapedMetrics> LiveStack::ScrapeNow() const {
  ASSIGN_OR_RETURN(HttpResponse response, HttpGet(metrics_port_, "/metrics"));
  if (response.status_code != 200) {
    return absl::UnavailableError(
        absl::StrCat("/metrics answered HTTP ", response.status_code));
  }
  return ScrapedMetrics::Parse(response.body);
}

absl::Status LiveStack::StartPrometheus(const LiveStackOptions& options) {
  const std::string config = dir_ + "/prometheus.yml";
  // The shipped job name, so the rules' up{job="loraplex"} applies.
  RETURN_IF_ERROR(WriteFile(
      config,
      absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "rule_files:\n  - ",
                   options.rules_file, "\n",
                   "scrape_configs:\n  - job_name: loraplex\n"
                   "    static_configs:\n      - targets: [\"127.0.0.1:",
                   metrics_port_, "\"]\n")));
  ASSIGN_OR_RETURN(prometheus_port_, PickFreePort());
  ASSIGN_OR_RETURN(
      prometheus_,
      ChildProcess::Start(
          {options.prometheus_path, "--config.file=" + config,
           "--storage.tsdb.path=" + dir_ + "/tsdb",
           absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port_),
           "--log.level=warn"},
          dir_ + "/prometheus.log"));
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (!prometheus_->Running()) {
      return WithLog(absl::FailedPreconditionError(
                         absl::StrCat("prometheus ", prometheus_->Describe())),
                     *prometheus_);
    }
    absl::StatusOr<HttpResponse> ready = HttpGet(prometheus_port_, "/-/ready");
    if (ready.ok() && ready->status_code == 200) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(200));
  }
  return WithLog(absl::DeadlineExceededError("prometheus not ready after 30s"),
                 *prometheus_);
}

absl::StatusOr<nlohmann::json> LiveStack::PrometheusApi(
    const std::string& endpoint, const std::string& query) const {
  const std::string path =
      absl::StrCat("/api/v1/", endpoint, query.empty() ? "" : "?", query);
  ASSIGN_OR_RETURN(HttpResponse response, HttpGet(prometheus_port_, path));
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
    data = PrometheusApi("query", "query=" + UrlEncode(promql));
    if (data.ok() && accept(*data)) return data;
    absl::SleepFor(absl::Milliseconds(500));
  } while (absl::Now() < deadline);
  return absl::DeadlineExceededError(absl::StrCat(
      "query ", promql, " not accepted after ", absl::FormatDuration(timeout),
      "; last: ", data.ok() ? data->dump() : data.status().ToString()));
}

absl::Status LiveStack::Stop() {
  absl::Status result;
  if (prometheus_ != nullptr) {
    absl::Status stopped = prometheus_->Stop(absl::Seconds(10));
    if (!stopped.ok()) result = WithLog(stopped, *prometheus_);
    prometheus_.reset();
  }
  if (server_ != nullptr) {
    absl::Status stopped = server_->Stop(absl::Seconds(30));
    if (!stopped.ok() && result.ok()) result = WithLog(stopped, *server_);
    server_.reset();
  }
  if (!dir_.empty() && std::getenv("LORAPLEX_KEEP_TEST_DIR") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
  }
  return result;
}

}  // namespace loraplex::deploy_test
