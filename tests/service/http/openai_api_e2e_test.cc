// The OpenAI-compatible HTTP API end to end, on an in-process server with
// the demo model: answers and their shapes, Server-Sent Events framing,
// OpenAI's error JSON and status codes, the same greedy text as gRPC's
// Generate, authentication and tenant isolation, a client that leaves
// (its engine request is cancelled and its slot freed), 429 on a full
// queue, and the api label of the request metrics.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "service/http/openai_http_server.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"
#include "tests/service/http/http_api_test_util.h"
#include "tests/support/temp_dir.h"

namespace loraplex::service::http_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::ordered_json;

constexpr char kPrompt[] = "In the beginning";

class OpenAiApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = e2e::TestServer::Start(DemoServerOptions(dir_.Join("registry")));
    ASSERT_NE(server_, nullptr);
    port_ = server_->app().http_port();
    ASSERT_GT(port_, 0);
  }

  HttpReply Post(const std::string& path, const Json& body) {
    return PostJson(port_, path, body.dump());
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<e2e::TestServer> server_;
  int port_ = 0;
};

// The error body OpenAI's SDKs read, with `status`.
void ExpectError(const HttpReply& reply, int status, const std::string& type,
                 const Json& code, const Json& param) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_THAT(reply.headers.find("Content-Type")->second,
              HasSubstr("application/json"));
  const Json body = reply.Json();
  ASSERT_TRUE(body.contains("error")) << reply.body;
  const Json& error = body["error"];
  EXPECT_TRUE(error["message"].is_string());
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_EQ(error["type"], type) << reply.body;
  EXPECT_EQ(error["code"], code) << reply.body;
  EXPECT_EQ(error["param"], param) << reply.body;
}

// Before the model is loaded (ServerApp listens first, then Serve), every
// API request is 503 in OpenAI's shape; "none" disables the API.
TEST(OpenAiHttpServerTest, AnswersServiceUnavailableUntilServing) {
  HttpServerLimits limits = DefaultOpenAiHttpLimits();
  limits.worker_threads = 2;
  absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> server =
      OpenAiHttpServer::Start("127.0.0.1:0", limits);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NE(*server, nullptr);
  const int port = (*server)->port();
  ExpectError(Get(port, "/v1/models"), 503, "service_unavailable_error",
              nullptr, nullptr);
  ExpectError(PostJson(port, "/v1/chat/completions", "{}"), 503,
              "service_unavailable_error", nullptr, nullptr);

  absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> disabled =
      OpenAiHttpServer::Start("none", limits);
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(*disabled, nullptr);
  EXPECT_FALSE(OpenAiHttpServer::Start("127.0.0.1:notaport", limits).ok());
}

TEST_F(OpenAiApiTest, ListsTheBaseModelAndTheAdaptersTheCallerMayUse) {
  const HttpReply reply = Get(port_, "/v1/models");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = reply.Json();
  EXPECT_EQ(body["object"], "list");
  std::vector<std::string> ids;
  for (const Json& model : body["data"]) {
    EXPECT_EQ(model["object"], "model");
    EXPECT_TRUE(model["created"].is_number_integer());
    ids.push_back(model["id"]);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"demo", "demo/code", "demo/fortunes",
                                           "demo/scripture"}));
  EXPECT_EQ(body["data"][0]["owned_by"], "loraplex");
  EXPECT_EQ(body["data"][3]["owned_by"], "demo");  // The tenant.

  const HttpReply one = Get(port_, "/v1/models/demo/scripture");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json()["id"], "demo/scripture");
  ExpectError(Get(port_, "/v1/models/demo/nothing"), 404,
              "invalid_request_error", "model_not_found", "model");
}

TEST_F(OpenAiApiTest, CompletionHasOpenAisShapeAndGrpcsGreedyText) {
  const HttpReply reply = Post("/v1/completions", {{"model", "demo/scripture"},
                                                   {"prompt", kPrompt},
                                                   {"max_tokens", 12},
                                                   {"temperature", 0}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = reply.Json();
  EXPECT_THAT(body["id"].get<std::string>(), ::testing::StartsWith("cmpl-"));
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "demo/scripture");
  ASSERT_EQ(body["choices"].size(), 1u);
  const Json& choice = body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_TRUE(choice["logprobs"].is_null());
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);
  EXPECT_EQ(body["usage"]["total_tokens"],
            body["usage"]["prompt_tokens"].get<int>() + 12);

  // The same request through gRPC: the same text.
  v1::GenerateRequest request;
  request.set_adapter("demo/scripture");
  request.set_text(kPrompt);
  request.mutable_stopping()->set_max_new_tokens(12);
  v1::GenerateResponse response;
  ASSERT_TRUE(
      e2e::Generate(server_->generation(), request, "", &response).ok());
  EXPECT_EQ(choice["text"], response.text());
  EXPECT_EQ(body["usage"]["prompt_tokens"], response.usage().prompt_tokens());
}

// The `adapters` extension mixes adapters as gRPC's GenerateRequest.adapters
// does: the same greedy text, and one adapter of weight 1 is that adapter.
TEST_F(OpenAiApiTest, AdaptersExtensionMixesAsGrpcDoes) {
  const auto http_text = [&](const Json& adapters) {
    const HttpReply reply = Post("/v1/completions", {{"model", "demo"},
                                                     {"adapters", adapters},
                                                     {"prompt", kPrompt},
                                                     {"max_tokens", 12},
                                                     {"temperature", 0}});
    EXPECT_EQ(reply.status, 200) << reply.body;
    if (reply.status != 200) return std::string();
    EXPECT_EQ(reply.Json()["model"], "demo");
    return reply.Json()["choices"][0]["text"].get<std::string>();
  };
  const auto grpc_text = [&](const v1::GenerateRequest& base) {
    v1::GenerateRequest request = base;
    request.set_text(kPrompt);
    request.mutable_stopping()->set_max_new_tokens(12);
    v1::GenerateResponse response;
    EXPECT_TRUE(
        e2e::Generate(server_->generation(), request, "", &response).ok());
    return response.text();
  };
  v1::GenerateRequest plain;
  plain.set_adapter("demo/scripture");
  EXPECT_EQ(http_text({{{"name", "demo/scripture"}, {"weight", 1}}}),
            grpc_text(plain));

  v1::GenerateRequest mix;
  v1::AdapterWeight* first = mix.add_adapters();
  first->set_name("demo/scripture");
  first->set_weight(0.2f);
  v1::AdapterWeight* second = mix.add_adapters();
  second->set_name("demo/fortunes");
  second->set_weight(1.0f);
  const std::string mixed =
      http_text({{{"name", "demo/scripture"}, {"weight", 0.2}},
                 {{"name", "demo/fortunes"}, {"weight", 1.0}}});
  EXPECT_EQ(mixed, grpc_text(mix));
  EXPECT_NE(mixed, grpc_text(plain));

  const Json one = {{{"name", "demo/scripture"}}};
  ExpectError(
      Post("/v1/completions",
           {{"model", "demo/scripture"}, {"adapters", one}, {"prompt", "x"}}),
      400, "invalid_request_error", nullptr, "model");
  const Json twice = {{{"name", "demo/scripture"}},
                      {{"name", "demo/scripture"}}};
  EXPECT_EQ(Post("/v1/completions",
                 {{"model", "demo"}, {"adapters", twice}, {"prompt", "x"}})
                .status,
            400);
  const Json unknown = {{{"name", "demo/nothing"}}};
  EXPECT_EQ(Post("/v1/completions",
                 {{"model", "demo"}, {"adapters", unknown}, {"prompt", "x"}})
                .status,
            404);
}

TEST_F(OpenAiApiTest, SampledTokensLogprobsMatchGrpcs) {
  const HttpReply reply = Post("/v1/completions", {{"model", "demo"},
                                                   {"prompt", kPrompt},
                                                   {"max_tokens", 4},
                                                   {"temperature", 0},
                                                   {"logprobs", 0}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json logprobs = reply.Json()["choices"][0]["logprobs"];
  ASSERT_EQ(logprobs["tokens"].size(), 4u);
  ASSERT_EQ(logprobs["token_logprobs"].size(), 4u);
  EXPECT_EQ(logprobs["text_offset"][0], 0);

  v1::GenerateRequest request;
  request.set_text(kPrompt);
  request.mutable_stopping()->set_max_new_tokens(4);
  request.set_return_logprobs(true);
  v1::GenerateResponse response;
  ASSERT_TRUE(
      e2e::Generate(server_->generation(), request, "", &response).ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(logprobs["token_logprobs"][i].get<double>(),
                response.logprobs(i), 1e-6);
  }
  const HttpReply chat =
      Post("/v1/chat/completions",
           {{"model", "demo"},
            {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
            {"max_tokens", 3},
            {"logprobs", true}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  const Json content = chat.Json()["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  EXPECT_TRUE(content[0]["token"].is_string());
  EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
  EXPECT_EQ(content[0]["top_logprobs"], Json::array());
}

TEST_F(OpenAiApiTest, ChatCompletionRendersTheTemplate) {
  const Json request = {
      {"model", "demo/fortunes"},
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}},
        {{"role", "user"},
         {"content", {{{"type", "text"}, {"text", "Tell me a fortune"}}}}}}},
      {"max_completion_tokens", 8},
      {"temperature", 0}};
  const HttpReply reply = Post("/v1/chat/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = reply.Json();
  EXPECT_THAT(body["id"].get<std::string>(),
              ::testing::StartsWith("chatcmpl-"));
  EXPECT_EQ(body["object"], "chat.completion");
  const Json& choice = body["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_TRUE(choice["message"]["content"].is_string());
  EXPECT_THAT(choice["finish_reason"].get<std::string>(),
              ::testing::AnyOf("stop", "length"));
  EXPECT_LE(body["usage"]["completion_tokens"].get<int>(), 8);
  // The rendered conversation is the prompt: far more than "Be brief.".
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 8);
}

TEST_F(OpenAiApiTest, StreamsServerSentEventsInOpenAisChunkFormat) {
  const Json request = {{"model", "demo/scripture"},
                        {"prompt", kPrompt},
                        {"max_tokens", 10},
                        {"temperature", 0},
                        {"stream", true},
                        {"stream_options", {{"include_usage", true}}}};
  const HttpReply whole = Post("/v1/completions", {{"model", "demo/scripture"},
                                                   {"prompt", kPrompt},
                                                   {"max_tokens", 10},
                                                   {"temperature", 0}});
  ASSERT_EQ(whole.status, 200);
  const HttpReply reply = Post("/v1/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers.find("Content-Type")->second, "text/event-stream");
  const std::vector<std::string> data = SseData(reply.body);
  ASSERT_GE(data.size(), 4u);
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text;
  std::string id;
  for (size_t i = 0; i + 1 < data.size(); ++i) {
    const Json chunk = Json::parse(data[i]);
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);  // One id for the whole stream.
    EXPECT_EQ(chunk["object"], "text_completion");
    if (i + 2 == data.size()) {  // The usage chunk.
      EXPECT_EQ(chunk["choices"], Json::array());
      EXPECT_EQ(chunk["usage"]["completion_tokens"], 10);
      continue;
    }
    EXPECT_TRUE(chunk["usage"].is_null());
    const Json& choice = chunk["choices"][0];
    text += choice["text"].get<std::string>();
    if (i + 3 == data.size()) {
      EXPECT_EQ(choice["finish_reason"], "length");
    } else {
      EXPECT_TRUE(choice["finish_reason"].is_null());
    }
  }
  EXPECT_EQ(text, whole.Json()["choices"][0]["text"]);

  // Chat: a role chunk first, then content deltas, a finish chunk, [DONE];
  // no usage chunk without include_usage.
  const HttpReply chat =
      Post("/v1/chat/completions",
           {{"model", "demo"},
            {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
            {"max_tokens", 5},
            {"stream", true}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  const std::vector<std::string> events = SseData(chat.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  const Json first = Json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_FALSE(first.contains("usage"));
  const Json last = Json::parse(events[events.size() - 2]);
  EXPECT_EQ(last["choices"][0]["delta"], Json::object());
  EXPECT_THAT(last["choices"][0]["finish_reason"].get<std::string>(),
              ::testing::AnyOf("stop", "length"));
}

TEST_F(OpenAiApiTest, ErrorsHaveOpenAisShapeAndStatus) {
  ExpectError(PostJson(port_, "/v1/completions", "{\"model\": "), 400,
              "invalid_request_error", nullptr, nullptr);
  ExpectError(Post("/v1/completions", {{"model", "demo"}}), 400,
              "invalid_request_error", nullptr, "prompt");
  ExpectError(
      Post("/v1/completions", {{"model", "demo"}, {"prompt", "x"}, {"n", 2}}),
      400, "invalid_request_error", "unsupported_parameter", "n");
  ExpectError(Post("/v1/completions",
                   {{"model", "demo"}, {"prompt", "x"}, {"logprobs", 2}}),
              400, "invalid_request_error", "unsupported_parameter",
              "logprobs");
  ExpectError(Post("/v1/chat/completions",
                   {{"model", "demo"},
                    {"messages", {{{"role", "user"}, {"content", "x"}}}},
                    {"frequency_penalty", 0.5}}),
              400, "invalid_request_error", "unsupported_parameter",
              "frequency_penalty");
  ExpectError(Post("/v1/completions",
                   {{"model", "demo"}, {"prompt", "x"}, {"best_guess", 1}}),
              400, "invalid_request_error", "unsupported_parameter",
              "best_guess");
  ExpectError(Post("/v1/completions",
                   {{"model", "demo"}, {"prompt", "x"}, {"temperature", 3}}),
              400, "invalid_request_error", nullptr, "temperature");
  ExpectError(
      Post("/v1/completions", {{"model", "nobody/nothing"}, {"prompt", "x"}}),
      404, "invalid_request_error", "model_not_found", "model");
  ExpectError(Get(port_, "/v1/engines"), 404, "invalid_request_error",
              "unknown_url", nullptr);
  ExpectError(PostJson(port_, "/v1/completions", "{}", "",
                       {{"Content-Encoding", "gzip"}}),
              415, "invalid_request_error", nullptr, nullptr);
  // Over --http-max-request-bytes: refused, unread.
  const std::string huge(5 << 20, 'x');
  const HttpReply too_large =
      PostJson(port_, "/v1/completions",
               Json{{"model", "demo"}, {"prompt", huge}}.dump());
  EXPECT_TRUE(too_large.status == 413 || too_large.status == 0)
      << too_large.status;
  // The template of the chat: a message it cannot render.
  const HttpReply bad_role = Post(
      "/v1/chat/completions",
      {{"model", "demo"}, {"messages", {{{"role", 7}, {"content", "x"}}}}});
  ExpectError(bad_role, 400, "invalid_request_error", nullptr,
              "messages[0].role");
  // And the server still serves.
  EXPECT_EQ(Post("/v1/completions",
                 {{"model", "demo"}, {"prompt", "x"}, {"max_tokens", 1}})
                .status,
            200);
}

TEST_F(OpenAiApiTest, RequestsAreCountedWithTheApiLabel) {
  ASSERT_EQ(Post("/v1/completions",
                 {{"model", "demo"}, {"prompt", "x"}, {"max_tokens", 1}})
                .status,
            200);
  ASSERT_EQ(Post("/v1/completions", {{"model", "demo"}}).status, 400);
  ASSERT_EQ(Get(port_, "/v1/models").status, 200);
  const std::string metrics = server_->ScrapeMetrics();
  EXPECT_EQ(e2e::MetricValue(metrics, "loraplex_requests_total",
                             {{"api", "http"},
                              {"rpc", "Completions"},
                              {"code", "OK"},
                              {"tenant", "default"}}),
            1);
  EXPECT_EQ(e2e::MetricValue(metrics, "loraplex_requests_total",
                             {{"api", "http"},
                              {"rpc", "Completions"},
                              {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(e2e::MetricValue(metrics, "loraplex_requests_total",
                             {{"api", "http"}, {"rpc", "ListModels"}}),
            1);
  EXPECT_EQ(
      e2e::MetricValue(metrics, "loraplex_requests_total", {{"api", "grpc"}}),
      std::nullopt);
  EXPECT_GE(e2e::MetricValue(metrics, "loraplex_completion_tokens_total",
                             {{"tenant", "default"}})
                .value_or(0),
            1);
}

// Tenancy: the same key file and rules as gRPC.
class OpenAiApiTenancyTest : public ::testing::Test {
 protected:
  static constexpr char kAcmeKey[] = "acme-secret-key-1";
  static constexpr char kGlobexKey[] = "globex-secret-key-2";

  void SetUp() override {
    const std::string keys = absl::StrCat(
        *FormatApiKeyFileLine("acme", Role::kTenant, kAcmeKey), "\n",
        *FormatApiKeyFileLine("globex", Role::kTenant, kGlobexKey), "\n");
    loraplex::testing::WriteFile(dir_.Join("keys"), keys);
    ServerOptions options = DemoServerOptions(dir_.Join("registry"));
    options.api_keys_file = dir_.Join("keys");
    server_ = e2e::TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
    port_ = server_->app().http_port();
    // acme's private adapter.
    e2e::UploadOptions upload;
    upload.api_key = kAcmeKey;
    ASSERT_TRUE(
        e2e::Upload(server_->adapters(), "secret",
                    e2e::ReadAdapterDir(DemoModelDir() + "/adapters/scripture"),
                    upload)
            .ok());
  }

  HttpReply Complete(const std::string& model, const std::string& key) {
    return PostJson(
        port_, "/v1/completions",
        Json{{"model", model}, {"prompt", "x"}, {"max_tokens", 1}}.dump(), key);
  }
  std::vector<std::string> ModelIds(const std::string& key) {
    const HttpReply reply = Get(port_, "/v1/models", key);
    EXPECT_EQ(reply.status, 200) << reply.body;
    // Held by name: a range-for over `reply.Json()["data"]` would iterate
    // a member of a temporary that is already destroyed.
    const Json body = reply.Json();
    std::vector<std::string> ids;
    for (const Json& model : body["data"]) ids.push_back(model["id"]);
    return ids;
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<e2e::TestServer> server_;
  int port_ = 0;
};

TEST_F(OpenAiApiTenancyTest, KeysAreCheckedAndTenantsIsolated) {
  ExpectError(Complete("demo", ""), 401, "invalid_request_error",
              "invalid_api_key", nullptr);
  ExpectError(Complete("demo", "not-a-key"), 401, "invalid_request_error",
              "invalid_api_key", nullptr);
  ExpectError(Get(port_, "/v1/models"), 401, "invalid_request_error",
              "invalid_api_key", nullptr);

  // acme sees and uses its own adapter, bare or qualified ...
  EXPECT_THAT(ModelIds(kAcmeKey), ::testing::Contains("acme/secret"));
  EXPECT_EQ(Complete("secret", kAcmeKey).status, 200);
  EXPECT_EQ(Complete("acme/secret", kAcmeKey).status, 200);
  EXPECT_EQ(Get(port_, "/v1/models/secret", kAcmeKey).Json()["owned_by"],
            "acme");
  // ... globex neither sees nor uses it: as if it did not exist.
  EXPECT_THAT(ModelIds(kGlobexKey), Not(::testing::Contains("acme/secret")));
  ExpectError(Complete("acme/secret", kGlobexKey), 404, "invalid_request_error",
              "model_not_found", "model");
  ExpectError(Complete("secret", kGlobexKey), 404, "invalid_request_error",
              "model_not_found", "model");
  ExpectError(Get(port_, "/v1/models/acme/secret", kGlobexKey), 404,
              "invalid_request_error", "model_not_found", "model");
  // Public adapters are everyone's.
  EXPECT_EQ(Complete("demo/code", kGlobexKey).status, 200);
  EXPECT_EQ(Complete("demo/code", kAcmeKey).status, 200);
}

// One sequence at a time and a queue of one: a slow request holds the
// engine, so the others wait, or are refused.
class OpenAiApiBackPressureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options = DemoServerOptions(dir_.Join("registry"));
    options.engine.max_batch_size = 1;
    options.engine.max_queued_requests = 1;
    server_ = e2e::TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
    port_ = server_->app().http_port();
  }

  // A streamed request that runs long (400 tokens, EOS ignored).
  std::unique_ptr<OpenStream> StartLongStream() {
    return std::make_unique<OpenStream>(port_, "/v1/completions",
                                        Json{{"model", "demo"},
                                             {"prompt", kPrompt},
                                             {"max_tokens", 400},
                                             {"ignore_eos", true},
                                             {"stream", true}}
                                            .dump());
  }
  engine::EngineStats Stats() { return server_->app().engine().Stats(); }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<e2e::TestServer> server_;
  int port_ = 0;
};

TEST_F(OpenAiApiBackPressureTest, AClientThatLeavesCancelsItsRequest) {
  std::unique_ptr<OpenStream> running = StartLongStream();
  ASSERT_TRUE(running->WaitForEvents(2));  // It holds the only slot.
  std::unique_ptr<OpenStream> waiting = StartLongStream();
  ASSERT_TRUE(e2e::WaitFor([&] { return Stats().queued_requests == 1; }));

  running->Abandon();
  // Its slot goes to the waiting request, which starts streaming.
  ASSERT_TRUE(waiting->WaitForEvents(1));
  waiting->Abandon();
  EXPECT_TRUE(e2e::WaitFor([&] {
    const engine::EngineStats stats = Stats();
    return stats.running_sequences == 0 && stats.queued_requests == 0 &&
           stats.kv_slots_in_use == 0;
  }));
  EXPECT_LT(Stats().generated_tokens, 800);  // Neither ran to its end.
  EXPECT_EQ(
      e2e::MetricValue(server_->ScrapeMetrics(), "loraplex_requests_total",
                       {{"api", "http"}, {"code", "CANCELLED"}}),
      2);
}

TEST_F(OpenAiApiBackPressureTest, AFullQueueIs429WithRetryAfter) {
  std::unique_ptr<OpenStream> running = StartLongStream();
  ASSERT_TRUE(running->WaitForEvents(1));
  std::unique_ptr<OpenStream> waiting = StartLongStream();
  ASSERT_TRUE(e2e::WaitFor([&] { return Stats().queued_requests == 1; }));

  const HttpReply refused = PostJson(
      port_, "/v1/completions",
      Json{{"model", "demo"}, {"prompt", "x"}, {"max_tokens", 1}}.dump());
  ExpectError(refused, 429, "rate_limit_error", "rate_limit_exceeded", nullptr);
  EXPECT_EQ(refused.headers.find("Retry-After")->second, "1");
  EXPECT_EQ(refused.headers.find("retry-after-ms")->second, "200");
  running->Abandon();
  waiting->Abandon();
}

TEST_F(OpenAiApiBackPressureTest, ShutdownEndsStreamsWithDoneOrAnError) {
  std::unique_ptr<OpenStream> running = StartLongStream();
  ASSERT_TRUE(running->WaitForEvents(1));
  server_->Stop(/*grace=*/absl::ZeroDuration());
  const HttpReply reply = running->Finish();
  EXPECT_EQ(reply.status, 200);
  const std::vector<std::string> data = SseData(reply.body);
  ASSERT_GE(data.size(), 2u);
  EXPECT_EQ(data.back(), "[DONE]");
  // Cut short by the shutdown: an error event says so.
  EXPECT_THAT(data[data.size() - 2], HasSubstr("\"error\""));
}

}  // namespace
}  // namespace loraplex::service::http_test
