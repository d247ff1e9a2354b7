// Helpers for the end-to-end tests: an in-process loraplex server (the same
// ServerApp main runs) on loopback ports, real gRPC clients, adapter files
// (fixture PEFT adapters, random ones written with SafetensorsWriter), and
// a /metrics scrape over plain HTTP.
#ifndef LORAPLEX_TESTS_SERVICE_E2E_E2E_TEST_UTIL_H_
#define LORAPLEX_TESTS_SERVICE_E2E_E2E_TEST_UTIL_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "service/server/server_app.h"
#include "service/server/server_options.h"

namespace loraplex::service::e2e {

// Every test runs the llama-gqa reference model (no tokenizer: prompts are
// token ids) from tests/data/fixtures/hf-dev.
inline constexpr char kModel[] = "llama-gqa";
std::string FixtureModelDir();

// A server for tests: loopback, free ports, CPU float32, the fixture
// model, the registry in `registry_dir`, open mode, max rank 16, no seeds.
ServerOptions TestServerOptions(const std::string& registry_dir);

// A running ServerApp with a channel and stubs to it.
class TestServer {
 public:
  // Fails the test (and returns nullptr) if the server does not start.
  static std::unique_ptr<TestServer> Start(const ServerOptions& options);

  ServerApp& app() { return *app_; }
  v1::GenerationService::Stub& generation() { return *generation_; }
  v1::AdapterService::Stub& adapters() { return *adapters_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::string address() const;
  // The /metrics page (empty, with a test failure, if it cannot be read).
  std::string ScrapeMetrics() const;
  // Stops the server (graceful, `grace`) and destroys it.
  void Stop(absl::Duration grace = absl::Seconds(5));

 private:
  std::unique_ptr<ServerApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::AdapterService::Stub> adapters_;
};

// A client context with `authorization: Bearer <api_key>` (none if empty)
// and a 60 s deadline, so that a hung call fails the test.
std::unique_ptr<grpc::ClientContext> NewContext(
    const std::string& api_key = "");

// An adapter's two files, in memory.
struct AdapterFiles {
  std::string config;   // adapter_config.json
  std::string weights;  // adapter_model.safetensors
};
AdapterFiles ReadAdapterDir(const std::string& dir);
// tests/data/fixtures/hf-dev/llama-gqa/adapters/<name>.
AdapterFiles FixtureAdapter(const std::string& name);

// A random PEFT LoRA adapter for the fixture model.
struct RandomAdapterSpec {
  uint32_t seed = 1;
  int64_t rank = 4;
  double alpha = 8;
  std::vector<std::string> targets = {"q_proj", "v_proj"};
  bool nan_value = false;         // One weight is NaN.
  int64_t extra_in_features = 0;  // lora_A of the first module is this wider.
};
AdapterFiles RandomAdapter(const RandomAdapterSpec& spec);
// adapter_config.json for `rank`, `alpha`, `targets` plus `extra_json`
// fields (a JSON object's members, e.g. "\"use_dora\": true").
std::string AdapterConfigJson(int64_t rank, double alpha,
                              const std::vector<std::string>& targets,
                              const std::string& extra_json = "");

struct UploadOptions {
  std::string api_key;
  std::string owner;  // Empty: the caller's tenant.
  v1::Visibility visibility = v1::VISIBILITY_PRIVATE;
  std::string description;
  size_t chunk_bytes = 64 << 10;
  v1::UploadCompression compression;  // Sent when a target is set.
};
// The header (with true sizes and sha256s) and chunk messages of an upload.
std::vector<v1::UploadAdapterRequest> UploadMessages(
    const std::string& name, const AdapterFiles& files,
    const UploadOptions& options = {});
// Sends `messages`, closes, and returns the call's status.
grpc::Status UploadRaw(v1::AdapterService::Stub& stub,
                       const std::vector<v1::UploadAdapterRequest>& messages,
                       const std::string& api_key = "",
                       v1::Adapter* response = nullptr);
grpc::Status Upload(v1::AdapterService::Stub& stub, const std::string& name,
                    const AdapterFiles& files,
                    const UploadOptions& options = {},
                    v1::Adapter* response = nullptr);

// An upload the test keeps open: its header (and maybe some chunks) sent,
// the sending side still open.
struct OpenUpload {
  std::unique_ptr<grpc::ClientContext> context;
  v1::Adapter response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadAdapterRequest>> writer;

  // Sends the remaining `messages` (false once the server has ended it).
  bool Send(const std::vector<v1::UploadAdapterRequest>& messages);
  // Closes the sending side; the server's answer.
  grpc::Status Finish();
  // Cancels the call; its final status (the server's, if it ended first).
  grpc::Status Cancel();
};
// Starts an upload and sends the first `count` of `messages` (the header
// first).
std::unique_ptr<OpenUpload> StartUpload(
    v1::AdapterService::Stub& stub,
    const std::vector<v1::UploadAdapterRequest>& messages, size_t count,
    const std::string& api_key = "");

// Greedy, EOS ignored (the reference outputs were made without EOS stops).
v1::GenerateRequest GreedyRequest(const std::string& adapter,
                                  const std::vector<int32_t>& prompt_ids,
                                  int32_t max_new_tokens = 16);
grpc::Status Generate(v1::GenerationService::Stub& stub,
                      const v1::GenerateRequest& request,
                      const std::string& api_key = "",
                      v1::GenerateResponse* response = nullptr);
std::vector<int32_t> TokenIds(const v1::GenerateResponse& response);

struct StreamResult {
  grpc::Status status;
  std::vector<v1::GenerateChunk> chunks;
  std::optional<v1::GenerateFinished> finished;
  int messages_after_finished = 0;  // Must stay 0.
  std::vector<int32_t> token_ids() const;
  std::vector<float> logprobs() const;
};
StreamResult GenerateStream(v1::GenerationService::Stub& stub,
                            const v1::GenerateRequest& request,
                            const std::string& api_key = "");

// The value of the series `name` whose labels include `labels`, summed over
// the matching series of a Prometheus text exposition; nullopt if none (and
// a test failure if the exposition does not parse). Parsed by
// tools/metrics_client, the one Prometheus text parser.
std::optional<double> MetricValue(
    const std::string& exposition, const std::string& name,
    const std::map<std::string, std::string>& labels = {});
// The body of a 200 answer to GET `path` from 127.0.0.1:`port` ("" and a
// test failure otherwise), through tools/metrics_client's HTTP client.
std::string HttpGet(int port, const std::string& path);

// Entries of a directory, sorted; empty if it does not exist.
std::vector<std::string> DirEntries(const std::string& path);

// Polls `condition` every 5 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(10));

// Names the gRPC status in test failures: "NOT_FOUND: adapter ...".
std::string Describe(const grpc::Status& status);

}  // namespace loraplex::service::e2e

#endif  // LORAPLEX_TESTS_SERVICE_E2E_E2E_TEST_UTIL_H_
