#include "tests/service/e2e/e2e_test_util.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/config/model_config.h"
#include "engine/safetensors/safetensors_writer.h"
#include "gtest/gtest.h"
#include "service/auth/sha256.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/test_util/test_files.h"
#include "tools/metrics_client/http_get.h"
#include "tools/metrics_client/prometheus_text.h"

namespace loraplex::service::e2e {

std::string FixtureModelDir() {
  return engine::testing::FixtureModelDir(kModel);
}

ServerOptions TestServerOptions(const std::string& registry_dir) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.http_limits.worker_threads = 4;
  options.registry_dir = registry_dir;
  options.engine.model_dir = FixtureModelDir();
  options.engine.device = "cpu";
  options.engine.dtype = "float32";
  options.engine.num_threads = 1;  // Two cores are shared by the build.
  options.engine.max_lora_rank = 16;
  options.shutdown_grace = absl::Seconds(5);
  options.blocking_threads = 2;
  return options;
}

std::unique_ptr<TestServer> TestServer::Start(const ServerOptions& options) {
  absl::StatusOr<std::unique_ptr<ServerApp>> app = ServerApp::Start(options);
  if (!app.ok()) {
    ADD_FAILURE() << "server did not start: " << app.status();
    return nullptr;
  }
  auto server = std::make_unique<TestServer>();
  server->app_ = *std::move(app);
  server->channel_ = grpc::CreateChannel(server->address(),
                                         grpc::InsecureChannelCredentials());
  server->generation_ = v1::GenerationService::NewStub(server->channel_);
  server->adapters_ = v1::AdapterService::NewStub(server->channel_);
  return server;
}

std::string TestServer::address() const {
  return absl::StrCat("127.0.0.1:", app_->port());
}

std::string TestServer::ScrapeMetrics() const {
  EXPECT_GT(app_->metrics_port(), 0) << "the metrics exposer is off";
  return HttpGet(app_->metrics_port(), "/metrics");
}

void TestServer::Stop(absl::Duration grace) {
  generation_.reset();
  adapters_.reset();
  channel_.reset();
  app_->Shutdown(grace);
  app_.reset();
}

std::unique_ptr<grpc::ClientContext> NewContext(const std::string& api_key) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!api_key.empty()) {
    context->AddMetadata("authorization", "Bearer " + api_key);
  }
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(60));
  return context;
}

AdapterFiles ReadAdapterDir(const std::string& dir) {
  return AdapterFiles{
      loraplex::testing::ReadFile(dir + "/adapter_config.json"),
      loraplex::testing::ReadFile(dir + "/adapter_model.safetensors")};
}

AdapterFiles FixtureAdapter(const std::string& name) {
  return ReadAdapterDir(engine::testing::FixtureAdapterDir(kModel, name));
}

std::string AdapterConfigJson(int64_t rank, double alpha,
                              const std::vector<std::string>& targets,
                              const std::string& extra_json) {
  std::vector<std::string> quoted;
  for (const std::string& target : targets) {
    quoted.push_back(absl::StrCat("\"", target, "\""));
  }
  return absl::StrCat("{\"peft_type\": \"LORA\", \"r\": ", rank,
                      ", \"lora_alpha\": ", alpha, ", \"target_modules\": [",
                      absl::StrJoin(quoted, ", "),
                      "], \"bias\": \"none\", \"lora_dropout\": 0.0",
                      extra_json.empty() ? "" : ", ", extra_json, "}");
}

AdapterFiles RandomAdapter(const RandomAdapterSpec& spec) {
  absl::StatusOr<engine::ModelConfig> model =
      engine::LoadModelConfig(FixtureModelDir());
  EXPECT_TRUE(model.ok()) << model.status();
  std::mt19937 rng(spec.seed);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  engine::SafetensorsWriter writer;
  bool first = true;
  for (int64_t layer = 0; layer < model->num_hidden_layers; ++layer) {
    for (const std::string& target : spec.targets) {
      const engine::LinearKind kind = *engine::LinearKindFromName(target);
      const engine::LinearShape shape = engine::LinearShapeOf(*model, kind);
      const std::string prefix =
          absl::StrCat("base_model.model.model.layers.", layer, ".",
                       engine::LinearKindParent(kind), ".", target);
      const int64_t in =
          shape.in_features + (first ? spec.extra_in_features : 0);
      std::vector<float> a(spec.rank * in), b(shape.out_features * spec.rank);
      for (float& v : a) v = normal(rng);
      for (float& v : b) v = normal(rng);
      if (first && spec.nan_value) a[a.size() / 2] = std::nanf("");
      first = false;
      EXPECT_TRUE(
          writer
              .AddFloat32(prefix + ".lora_A.weight", {spec.rank, in}, a.data())
              .ok());
      EXPECT_TRUE(writer
                      .AddFloat32(prefix + ".lora_B.weight",
                                  {shape.out_features, spec.rank}, b.data())
                      .ok());
    }
  }
  return AdapterFiles{AdapterConfigJson(spec.rank, spec.alpha, spec.targets),
                      writer.Serialize()};
}

namespace {

v1::UploadAdapterRequest ChunkMessage(const std::string& filename,
                                      uint64_t offset,
                                      const std::string& data) {
  v1::UploadAdapterRequest message;
  v1::FileChunk* chunk = message.mutable_chunk();
  chunk->set_filename(filename);
  chunk->set_offset(offset);
  chunk->set_data(data);
  return message;
}

}  // namespace

std::vector<v1::UploadAdapterRequest> UploadMessages(
    const std::string& name, const AdapterFiles& files,
    const UploadOptions& options) {
  const std::vector<std::pair<std::string, const std::string*>> named = {
      {"adapter_config.json", &files.config},
      {"adapter_model.safetensors", &files.weights}};
  std::vector<v1::UploadAdapterRequest> messages(1);
  v1::UploadHeader* header = messages[0].mutable_header();
  header->set_name(name);
  header->set_owner(options.owner);
  header->set_description(options.description);
  header->set_visibility(options.visibility);
  if (options.compression.target_case() !=
      v1::UploadCompression::TARGET_NOT_SET) {
    *header->mutable_compression() = options.compression;
  }
  for (const auto& [filename, bytes] : named) {
    v1::AdapterFile* file = header->add_files();
    file->set_filename(filename);
    file->set_sha256(Sha256Hex(*bytes));
    file->set_size_bytes(bytes->size());
  }
  for (const auto& [filename, bytes] : named) {
    for (size_t offset = 0; offset < bytes->size();
         offset += options.chunk_bytes) {
      messages.push_back(ChunkMessage(
          filename, offset, bytes->substr(offset, options.chunk_bytes)));
    }
  }
  return messages;
}

grpc::Status UploadRaw(v1::AdapterService::Stub& stub,
                       const std::vector<v1::UploadAdapterRequest>& messages,
                       const std::string& api_key, v1::Adapter* response) {
  v1::Adapter ignored;
  std::unique_ptr<grpc::ClientContext> context = NewContext(api_key);
  std::unique_ptr<grpc::ClientWriter<v1::UploadAdapterRequest>> writer =
      stub.UploadAdapter(context.get(),
                         response != nullptr ? response : &ignored);
  for (const v1::UploadAdapterRequest& message : messages) {
    if (!writer->Write(message)) break;  // The server has answered.
  }
  writer->WritesDone();
  return writer->Finish();
}

bool OpenUpload::Send(const std::vector<v1::UploadAdapterRequest>& messages) {
  for (const v1::UploadAdapterRequest& message : messages) {
    if (!writer->Write(message)) return false;
  }
  return true;
}

grpc::Status OpenUpload::Finish() {
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status OpenUpload::Cancel() {
  context->TryCancel();
  return writer->Finish();
}

std::unique_ptr<OpenUpload> StartUpload(
    v1::AdapterService::Stub& stub,
    const std::vector<v1::UploadAdapterRequest>& messages, size_t count,
    const std::string& api_key) {
  auto upload = std::make_unique<OpenUpload>();
  upload->context = NewContext(api_key);
  upload->writer = stub.UploadAdapter(upload->context.get(), &upload->response);
  for (size_t i = 0; i < count && i < messages.size(); ++i) {
    if (!upload->writer->Write(messages[i])) break;
  }
  return upload;
}

grpc::Status Upload(v1::AdapterService::Stub& stub, const std::string& name,
                    const AdapterFiles& files, const UploadOptions& options,
                    v1::Adapter* response) {
  return UploadRaw(stub, UploadMessages(name, files, options), options.api_key,
                   response);
}

v1::GenerateRequest GreedyRequest(const std::string& adapter,
                                  const std::vector<int32_t>& prompt_ids,
                                  int32_t max_new_tokens) {
  v1::GenerateRequest request;
  request.set_adapter(adapter);
  request.mutable_token_ids()->mutable_ids()->Add(prompt_ids.begin(),
                                                  prompt_ids.end());
  request.mutable_stopping()->set_max_new_tokens(max_new_tokens);
  request.mutable_stopping()->set_ignore_eos(true);
  return request;
}

grpc::Status Generate(v1::GenerationService::Stub& stub,
                      const v1::GenerateRequest& request,
                      const std::string& api_key,
                      v1::GenerateResponse* response) {
  v1::GenerateResponse ignored;
  std::unique_ptr<grpc::ClientContext> context = NewContext(api_key);
  return stub.Generate(context.get(), request,
                       response != nullptr ? response : &ignored);
}

std::vector<int32_t> TokenIds(const v1::GenerateResponse& response) {
  return {response.token_ids().begin(), response.token_ids().end()};
}

std::vector<int32_t> StreamResult::token_ids() const {
  std::vector<int32_t> ids;
  for (const v1::GenerateChunk& chunk : chunks) {
    ids.insert(ids.end(), chunk.token_ids().begin(), chunk.token_ids().end());
  }
  return ids;
}

std::vector<float> StreamResult::logprobs() const {
  std::vector<float> values;
  for (const v1::GenerateChunk& chunk : chunks) {
    values.insert(values.end(), chunk.logprobs().begin(),
                  chunk.logprobs().end());
  }
  return values;
}

StreamResult GenerateStream(v1::GenerationService::Stub& stub,
                            const v1::GenerateRequest& request,
                            const std::string& api_key) {
  StreamResult result;
  std::unique_ptr<grpc::ClientContext> context = NewContext(api_key);
  std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader =
      stub.GenerateStream(context.get(), request);
  v1::GenerateStreamResponse message;
  while (reader->Read(&message)) {
    if (result.finished.has_value()) {
      ++result.messages_after_finished;
    } else if (message.has_finished()) {
      result.finished = message.finished();
    } else {
      result.chunks.push_back(message.chunk());
    }
  }
  result.status = reader->Finish();
  return result;
}

std::optional<double> MetricValue(
    const std::string& exposition, const std::string& name,
    const std::map<std::string, std::string>& labels) {
  absl::StatusOr<metrics_client::ScrapedMetrics> metrics =
      metrics_client::ScrapedMetrics::Parse(exposition);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  if (!metrics.ok()) return std::nullopt;
  return metrics->Sum(name, labels);
}

std::string HttpGet(int port, const std::string& path) {
  absl::StatusOr<std::string> body = metrics_client::HttpGetBody(
      metrics_client::LoopbackUrl(port, path), absl::Seconds(60));
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : "";
}

std::vector<std::string> DirEntries(const std::string& path) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string Describe(const grpc::Status& status) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  const char* name = code >= 0 && code <= 16 ? kNames[code] : "?";
  return absl::StrCat(name, ": ", status.error_message());
}

}  // namespace loraplex::service::e2e
