// GenerationService end to end: reference outputs through Generate and
// GenerateStream, request checks, stops, sampling, and a mixed batch of
// concurrent streams over many adapters.
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const char* const kFixtureAdapters[] = {"qv-r8", "all-r16", "attn-r4-rslora"};

class GenerationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = TestServer::Start(TestServerOptions(registry_.path()));
    ASSERT_NE(server_, nullptr);
    for (const char* name : kFixtureAdapters) {
      ASSERT_TRUE(Upload(server_->adapters(), name, FixtureAdapter(name)).ok());
    }
  }

  loraplex::testing::TempDir registry_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(GenerationTest, UnaryMatchesReferenceGreedyForBaseAndAdapters) {
  for (const auto& c : engine::testing::LoadFixtureCases(kModel)) {
    SCOPED_TRACE("adapter '" + c.adapter + "', prompt of " +
                 std::to_string(c.prompt_ids.size()));
    v1::GenerateResponse response;
    const grpc::Status status = Generate(
        server_->generation(), GreedyRequest(c.adapter, c.prompt_ids),
        "", &response);
    ASSERT_TRUE(status.ok()) << Describe(status);
    EXPECT_THAT(TokenIds(response), ElementsAreArray(c.greedy_ids));
    EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(response.usage().prompt_tokens(),
              static_cast<int32_t>(c.prompt_ids.size()));
    EXPECT_EQ(response.usage().completion_tokens(), 16);
    EXPECT_EQ(response.text(), "");  // The model has no tokenizer.
    EXPECT_EQ(response.logprobs_size(), 0);  // Not requested.
    const auto& timings = response.timings();
    EXPECT_GT(timings.total().seconds() * 1e9 + timings.total().nanos(), 0);
    EXPECT_LE(timings.first_token().seconds() * 1e9 +
                  timings.first_token().nanos(),
              timings.total().seconds() * 1e9 + timings.total().nanos());
  }
}

TEST_F(GenerationTest, StreamGivesTheSameTokensAndLogprobsAsUnary) {
  for (const auto& c : engine::testing::LoadFixtureCases(kModel)) {
    SCOPED_TRACE("adapter '" + c.adapter + "'");
    v1::GenerateRequest request = GreedyRequest(c.adapter, c.prompt_ids);
    request.set_return_logprobs(true);
    v1::GenerateResponse unary;
    ASSERT_TRUE(Generate(server_->generation(), request, "", &unary).ok());
    const StreamResult stream = GenerateStream(server_->generation(), request);
    ASSERT_TRUE(stream.status.ok()) << Describe(stream.status);
    EXPECT_THAT(stream.token_ids(), ElementsAreArray(c.greedy_ids));
    ASSERT_EQ(unary.logprobs_size(), 16);
    const std::vector<float> logprobs = stream.logprobs();
    ASSERT_EQ(logprobs.size(), 16u);
    for (int i = 0; i < 16; ++i) {
      EXPECT_LE(logprobs[i], 0.0f);
      EXPECT_NEAR(logprobs[i], unary.logprobs(i), 1e-5);
    }
    for (const v1::GenerateChunk& chunk : stream.chunks) {
      EXPECT_GT(chunk.token_ids_size(), 0);  // No empty chunks.
      EXPECT_EQ(chunk.logprobs_size(), chunk.token_ids_size());
    }
    ASSERT_TRUE(stream.finished.has_value());
    EXPECT_EQ(stream.messages_after_finished, 0);
    EXPECT_EQ(stream.finished->finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(stream.finished->usage().completion_tokens(), 16);
    EXPECT_EQ(stream.finished->usage().prompt_tokens(),
              static_cast<int32_t>(c.prompt_ids.size()));
  }
}

TEST_F(GenerationTest, MixedBatchOfDistinctAdaptersMatchesEachAlone) {
  // 3 fixture adapters + 7 random ones + the base model: 11 concurrent
  // streams over 10 distinct adapters.
  std::vector<std::string> adapters(std::begin(kFixtureAdapters),
                                    std::end(kFixtureAdapters));
  for (uint32_t seed = 1; seed <= 7; ++seed) {
    RandomAdapterSpec spec;
    spec.seed = seed;
    spec.rank = 2 + seed % 3;
    if (seed % 2 == 0) spec.targets = {"q_proj", "k_proj", "o_proj", "up_proj"};
    const std::string name = "random-" + std::to_string(seed);
    ASSERT_TRUE(Upload(server_->adapters(), name, RandomAdapter(spec)).ok());
    adapters.push_back(name);
  }
  adapters.push_back("");  // Base model.
  const std::vector<int32_t> prompt = {137, 41, 124, 111, 365, 251, 503};
  constexpr int kTokens = 48;

  std::vector<std::vector<int32_t>> alone(adapters.size());
  for (size_t i = 0; i < adapters.size(); ++i) {
    v1::GenerateResponse response;
    ASSERT_TRUE(Generate(server_->generation(),
                         GreedyRequest(adapters[i], prompt, kTokens), "",
                         &response)
                    .ok());
    alone[i] = TokenIds(response);
  }
  const std::string before = server_->ScrapeMetrics();

  std::vector<StreamResult> together(adapters.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < adapters.size(); ++i) {
    clients.emplace_back([&, i] {
      together[i] = GenerateStream(server_->generation(),
                                   GreedyRequest(adapters[i], prompt, kTokens));
    });
  }
  for (std::thread& client : clients) client.join();

  for (size_t i = 0; i < adapters.size(); ++i) {
    SCOPED_TRACE("adapter '" + adapters[i] + "'");
    ASSERT_TRUE(together[i].status.ok()) << Describe(together[i].status);
    EXPECT_EQ(together[i].token_ids(), alone[i]);
  }
  // Distinct outputs: the adapters really differ.
  for (size_t i = 1; i < adapters.size(); ++i) EXPECT_NE(alone[i], alone[0]);
  // And they shared steps: some step ran more than 2 distinct adapters.
  const std::string after = server_->ScrapeMetrics();
  const std::string name = "loraplex_engine_batch_distinct_adapters_bucket";
  const double steps = *MetricValue(after, name, {{"le", "+Inf"}}) -
                       *MetricValue(before, name, {{"le", "+Inf"}});
  const double at_most_two = *MetricValue(after, name, {{"le", "2"}}) -
                             *MetricValue(before, name, {{"le", "2"}});
  EXPECT_GT(steps, 0);
  EXPECT_LT(at_most_two, steps);
}

TEST_F(GenerationTest, StopTokenIdEndsGenerationAfterIt) {
  // qv-r8 on [369] gives 271, 356, 455, 441, 8, ...
  v1::GenerateRequest request = GreedyRequest("qv-r8", {369});
  request.mutable_stopping()->add_stop_token_ids(441);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(server_->generation(), request, "", &response).ok());
  EXPECT_THAT(TokenIds(response), ElementsAreArray({271, 356, 455, 441}));
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_STOP);
}

TEST_F(GenerationTest, EosEndsGenerationUnlessIgnored) {
  // all-r16 on this prompt emits the EOS id 2 as its third token.
  v1::GenerateRequest request =
      GreedyRequest("all-r16", {137, 41, 124, 111, 365, 251, 503});
  request.mutable_stopping()->set_ignore_eos(false);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(server_->generation(), request, "", &response).ok());
  EXPECT_THAT(TokenIds(response), ElementsAreArray({290, 261, 2}));
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_EOS);
  const StreamResult stream = GenerateStream(server_->generation(), request);
  ASSERT_TRUE(stream.finished.has_value());
  EXPECT_EQ(stream.finished->finish_reason(), v1::FINISH_REASON_EOS);
}

TEST_F(GenerationTest, UnsetMaxNewTokensDefaultsToSixteen) {
  v1::GenerateRequest request = GreedyRequest("", {369});
  request.mutable_stopping()->clear_max_new_tokens();
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(server_->generation(), request, "", &response).ok());
  EXPECT_EQ(response.token_ids_size(), 16);
}

TEST_F(GenerationTest, SeededSamplingIsReproducible) {
  v1::GenerateRequest request = GreedyRequest("qv-r8", {369}, 24);
  request.mutable_sampling()->set_temperature(1.5f);
  request.mutable_sampling()->set_top_k(50);
  request.mutable_sampling()->set_top_p(0.95f);
  std::vector<std::vector<int32_t>> outputs;
  for (uint64_t seed : {7, 7, 8}) {
    request.mutable_sampling()->set_seed(seed);
    v1::GenerateResponse response;
    ASSERT_TRUE(Generate(server_->generation(), request, "", &response).ok());
    outputs.push_back(TokenIds(response));
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_NE(outputs[0], outputs[2]);
}

struct BadRequestCase {
  const char* what;
  std::function<void(v1::GenerateRequest&)> mutate;
  const char* message;  // Substring of the error.
};

TEST_F(GenerationTest, BadFieldsAreInvalidArgumentNamingTheField) {
  const std::vector<BadRequestCase> cases = {
      {"no prompt", [](auto& r) { r.clear_token_ids(); }, "prompt"},
      {"empty text", [](auto& r) { r.set_text(""); }, "text must not be empty"},
      {"text without tokenizer", [](auto& r) { r.set_text("hello"); },
       "tokenizer"},
      {"no ids", [](auto& r) { r.mutable_token_ids()->clear_ids(); },
       "token_ids.ids"},
      {"id out of vocabulary",
       [](auto& r) { r.mutable_token_ids()->add_ids(512); }, "token_ids.ids"},
      {"negative id", [](auto& r) { r.mutable_token_ids()->add_ids(-1); },
       "token_ids.ids"},
      {"prompt + output beyond max seq len",
       [](auto& r) { r.mutable_stopping()->set_max_new_tokens(256); },
       "--max-seq-len"},
      {"negative temperature",
       [](auto& r) { r.mutable_sampling()->set_temperature(-1); },
       "sampling.temperature"},
      {"NaN temperature",
       [](auto& r) { r.mutable_sampling()->set_temperature(std::nanf("")); },
       "sampling.temperature"},
      {"negative top_k", [](auto& r) { r.mutable_sampling()->set_top_k(-1); },
       "sampling.top_k"},
      {"top_p 0", [](auto& r) { r.mutable_sampling()->set_top_p(0); },
       "sampling.top_p"},
      {"top_p above 1", [](auto& r) { r.mutable_sampling()->set_top_p(1.5); },
       "sampling.top_p"},
      {"max_new_tokens 0",
       [](auto& r) { r.mutable_stopping()->set_max_new_tokens(0); },
       "stopping.max_new_tokens"},
      {"17 stop strings",
       [](auto& r) {
         for (int i = 0; i < 17; ++i) r.mutable_stopping()->add_stop_strings("x");
       },
       "stopping.stop_strings"},
      {"empty stop string",
       [](auto& r) { r.mutable_stopping()->add_stop_strings(""); },
       "stopping.stop_strings"},
      {"257-byte stop string",
       [](auto& r) {
         r.mutable_stopping()->add_stop_strings(std::string(257, 'a'));
       },
       "stopping.stop_strings"},
      {"stop string without tokenizer",
       [](auto& r) { r.mutable_stopping()->add_stop_strings("x"); },
       "tokenizer"},
      {"65 stop ids",
       [](auto& r) {
         for (int i = 0; i < 65; ++i) r.mutable_stopping()->add_stop_token_ids(1);
       },
       "stopping.stop_token_ids"},
      {"stop id out of vocabulary",
       [](auto& r) { r.mutable_stopping()->add_stop_token_ids(600); },
       "stopping.stop_token_ids"},
  };
  for (const BadRequestCase& c : cases) {
    SCOPED_TRACE(c.what);
    v1::GenerateRequest request = GreedyRequest("qv-r8", {369, 5});
    c.mutate(request);
    const grpc::Status unary = Generate(server_->generation(), request);
    EXPECT_EQ(unary.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << Describe(unary);
    EXPECT_THAT(unary.error_message(), HasSubstr(c.message));
    const StreamResult stream = GenerateStream(server_->generation(), request);
    EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(stream.chunks.empty());
    EXPECT_FALSE(stream.finished.has_value());
  }
  // Every refusal is counted under its code.
  EXPECT_GE(*MetricValue(server_->ScrapeMetrics(), "loraplex_requests_total",
                         {{"rpc", "Generate"}, {"code", "INVALID_ARGUMENT"},
                          {"tenant", "default"}}),
            static_cast<double>(cases.size()));
}

TEST_F(GenerationTest, UnknownAdapterIsNotFound) {
  const grpc::Status status =
      Generate(server_->generation(), GreedyRequest("nope", {369}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("default/nope"));
}

}  // namespace
}  // namespace loraplex::service::e2e
