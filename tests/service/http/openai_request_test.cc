// ParseOpenAiRequest: every field either honoured, refused (with OpenAI's
// unsupported_parameter and the field as param), or harmlessly ignored.
#include "service/http/openai_request.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/http/openai_error.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

constexpr ModelLimits kLimits{/*vocab_size=*/100, /*max_seq_len=*/64};

absl::StatusOr<OpenAiRequest> Completion(const Json& body) {
  return ParseOpenAiRequest(OpenAiEndpoint::kCompletions, body.dump(), kLimits);
}
absl::StatusOr<OpenAiRequest> Chat(Json body) {
  if (!body.contains("messages")) {
    body["messages"] = Json::array({{{"role", "user"}, {"content", "hi"}}});
  }
  return ParseOpenAiRequest(OpenAiEndpoint::kChatCompletions, body.dump(),
                            kLimits);
}

// The field a refusal names, or "" when the parse succeeded.
std::string RefusedField(const absl::StatusOr<OpenAiRequest>& parsed) {
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return ErrorParam(parsed.status()).value_or("<no param>");
}

TEST(OpenAiRequestTest, CompletionDefaultsAreOpenAis) {
  const auto parsed = Completion({{"model", "m"}, {"prompt", "hello"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->model, "m");
  EXPECT_EQ(parsed->prompt_text, "hello");
  EXPECT_EQ(parsed->stopping.max_new_tokens, 16);
  EXPECT_FLOAT_EQ(parsed->sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(parsed->sampling.top_p, 1.0f);
  EXPECT_FALSE(parsed->seed_given);
  EXPECT_FALSE(parsed->stream);
  EXPECT_FALSE(parsed->logprobs);
}

TEST(OpenAiRequestTest, ChatDefaultsToTheWholeContext) {
  const auto parsed = Chat({{"model", "m"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->stopping.max_new_tokens, 64);
  EXPECT_TRUE(parsed->add_generation_prompt);
  EXPECT_TRUE(parsed->tools.is_null());
}

TEST(OpenAiRequestTest, SupportedFieldsAreHonoured) {
  const auto parsed = Completion({{"model", "m"},
                                  {"prompt", {{1, 2, 3}}},
                                  {"max_tokens", 5},
                                  {"temperature", 0.5},
                                  {"top_p", 0.9},
                                  {"top_k", 40},
                                  {"seed", -3},
                                  {"stop", {"a", "bc"}},
                                  {"ignore_eos", true},
                                  {"stream", true},
                                  {"stream_options", {{"include_usage", true}}},
                                  {"logprobs", 0},
                                  {"n", 1},
                                  {"best_of", 1},
                                  {"echo", false},
                                  {"presence_penalty", 0},
                                  {"logit_bias", Json::object()},
                                  {"user", "u-1"},
                                  {"suffix", nullptr}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parsed->stopping.max_new_tokens, 5);
  EXPECT_FLOAT_EQ(parsed->sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(parsed->sampling.top_p, 0.9f);
  EXPECT_EQ(parsed->sampling.top_k, 40);
  EXPECT_TRUE(parsed->seed_given);
  EXPECT_EQ(parsed->sampling.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(parsed->stopping.stop_strings,
            (std::vector<std::string>{"a", "bc"}));
  EXPECT_TRUE(parsed->stopping.ignore_eos);
  EXPECT_TRUE(parsed->stream);
  EXPECT_TRUE(parsed->include_usage);
  EXPECT_TRUE(parsed->logprobs);

  const auto chat = Chat({{"model", "m"},
                          {"max_completion_tokens", 7},
                          {"stop", "END"},
                          {"logprobs", true},
                          {"top_logprobs", 0},
                          {"response_format", {{"type", "text"}}},
                          {"store", false},
                          {"metadata", {{"k", "v"}}},
                          {"service_tier", "auto"},
                          {"modalities", {"text"}},
                          {"chat_template_kwargs", {{"x", 1}}},
                          {"add_generation_prompt", false}});
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(chat->stopping.max_new_tokens, 7);
  EXPECT_EQ(chat->stopping.stop_strings, (std::vector<std::string>{"END"}));
  EXPECT_TRUE(chat->logprobs);
  EXPECT_EQ(chat->chat_template_kwargs, (Json{{"x", 1}}));
  EXPECT_FALSE(chat->add_generation_prompt);
}

TEST(OpenAiRequestTest, NullMeansAbsent) {
  const auto parsed = Completion({{"model", "m"},
                                  {"prompt", "x"},
                                  {"max_tokens", nullptr},
                                  {"temperature", nullptr},
                                  {"stop", nullptr},
                                  {"n", nullptr}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->stopping.max_new_tokens, 16);
}

TEST(OpenAiRequestTest, FieldsThatWouldChangeTheResultAreRefused) {
  const Json base = {{"model", "m"}, {"prompt", "x"}};
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"n", 2},
           {"best_of", 3},
           {"echo", true},
           {"suffix", "tail"},
           {"presence_penalty", 0.1},
           {"frequency_penalty", -1},
           {"logit_bias", {{"5", 10}}},
           {"logprobs", 1},
           {"prompt", {"a", "b"}},
       }) {
    Json body = base;
    body[field] = value;
    const auto parsed = Completion(body);
    EXPECT_EQ(RefusedField(parsed), field) << body.dump();
    EXPECT_THAT(ToHttpError(parsed.status(), ErrorScrubber("", "")).body,
                HasSubstr("unsupported_parameter"));
  }
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"top_logprobs", 2},
           {"response_format", {{"type", "json_object"}}},
           {"tool_choice", "required"},
           {"parallel_tool_calls", false},
           {"modalities", {"text", "audio"}},
           {"reasoning_effort", "low"},
           {"audio", {{"voice", "x"}}},
           {"functions", Json::array()},
           {"prediction", {{"type", "content"}}},
       }) {
    Json body = {{"model", "m"}};
    body[field] = value;
    EXPECT_EQ(RefusedField(Chat(body)), field) << body.dump();
  }
  // Content other than text.
  EXPECT_EQ(
      RefusedField(
          Chat({{"model", "m"},
                {"messages",
                 {{{"role", "user"},
                   {"content",
                    {{{"type", "image_url"}, {"image_url", "http://x"}}}}}}}})),
      "messages[0].content[0]");
}

TEST(OpenAiRequestTest, UnknownFieldsAreRefusedNotIgnored) {
  EXPECT_EQ(RefusedField(Completion(
                {{"model", "m"}, {"prompt", "x"}, {"temprature", 0}})),
            "temprature");
  // A chat-only field on the completions endpoint is unknown there.
  EXPECT_EQ(
      RefusedField(Completion(
          {{"model", "m"}, {"prompt", "x"}, {"messages", Json::array()}})),
      "messages");
  EXPECT_EQ(RefusedField(Completion({{"model", "m"},
                                     {"prompt", "x"},
                                     {"stream", true},
                                     {"stream_options", {{"foo", 1}}}})),
            "stream_options.foo");
}

TEST(OpenAiRequestTest, BadValuesNameTheirField) {
  const Json base = {{"model", "m"}, {"prompt", "x"}};
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"max_tokens", 0},
           {"max_tokens", 1.5},
           {"temperature", -0.1},
           {"temperature", "hot"},
           {"top_p", 0},
           {"top_p", 1.5},
           {"stop", ""},
           {"stop", 5},
           {"stop", Json::array({"a", "b", "c", "d", "e", "f", "g", "h", "i",
                                 "j", "k", "l", "m", "n", "o", "p", "q"})},
           {"seed", "1"},
           {"stream", "yes"},
           {"prompt", ""},
           {"prompt", Json::array({100})},  // Outside the vocabulary.
           {"prompt", Json::array({-1})},
           {"prompt", 5},
           {"model", ""},
       }) {
    Json body = base;
    body[field] = value;
    EXPECT_EQ(RefusedField(Completion(body)), field) << body.dump();
  }
  EXPECT_EQ(RefusedField(Completion({{"prompt", "x"}})), "model");
  EXPECT_EQ(
      RefusedField(Completion({{"model", "m"},
                               {"prompt", "x"},
                               {"stream_options", {{"include_usage", true}}}})),
      "stream_options");
  EXPECT_EQ(
      RefusedField(Chat(
          {{"model", "m"}, {"max_tokens", 3}, {"max_completion_tokens", 4}})),
      "max_completion_tokens");
  EXPECT_EQ(RefusedField(Chat({{"model", "m"}, {"messages", Json::array()}})),
            "messages");
  EXPECT_EQ(RefusedField(Chat(
                {{"model", "m"}, {"messages", {{{"content", "no role"}}}}})),
            "messages[0].role");
  EXPECT_EQ(RefusedField(Chat({{"model", "m"}, {"tools", {{{"type", "x"}}}}})),
            "tools[0]");
}

TEST(OpenAiRequestTest, AdaptersExtensionIsReadWithItsWeights) {
  const auto parsed = Completion(
      {{"model", "m"},
       {"prompt", "x"},
       {"adapters", {{{"name", "a"}, {"weight", -0.5}}, {{"name", "o/b"}}}}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->adapters.size(), 2u);
  EXPECT_EQ(parsed->adapters[0].name, "a");
  EXPECT_FLOAT_EQ(parsed->adapters[0].weight, -0.5f);
  EXPECT_EQ(parsed->adapters[1].name, "o/b");
  EXPECT_FLOAT_EQ(parsed->adapters[1].weight, 1.0f);
  EXPECT_TRUE(Completion({{"model", "m"}, {"prompt", "x"}})->adapters.empty());

  const auto with = [](const Json& adapters) {
    return RefusedField(Chat({{"model", "m"}, {"adapters", adapters}}));
  };
  EXPECT_EQ(with(Json::array()), "adapters");
  EXPECT_EQ(with("a"), "adapters");
  EXPECT_EQ(with({"a"}), "adapters[0]");
  EXPECT_EQ(with({{{"weight", 1}}}), "adapters[0].name");
  EXPECT_EQ(with({{{"name", "a"}}, {{"name", 3}}}), "adapters[1].name");
  EXPECT_EQ(with({{{"name", "a"}, {"weight", "1"}}}), "adapters[0].weight");
  EXPECT_EQ(with({{{"name", "a"}, {"scale", 1}}}), "adapters[0]");
}

TEST(OpenAiRequestTest, MalformedBodiesAreInvalidArgument) {
  for (const char* body : {"", "{", "[]", "\"text\"", "{\"a\":1,\"a\":2}"}) {
    const auto parsed =
        ParseOpenAiRequest(OpenAiEndpoint::kCompletions, body, kLimits);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << body;
  }
}

TEST(OpenAiRequestTest, TextPartsAreJoinedAndOtherMessageFieldsKept) {
  const auto parsed = Chat(
      {{"model", "m"},
       {"messages",
        {{{"role", "user"},
          {"name", "ann"},
          {"content",
           {{{"type", "text"}, {"text", "a"}},
            {{"type", "text"}, {"text", "b"}}}}},
         {{"role", "assistant"},
          {"content", nullptr},
          {"tool_calls", {{{"id", "c1"}}}}}}},
       {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->messages[0]["content"], "a\nb");
  EXPECT_EQ(parsed->messages[0]["name"], "ann");
  EXPECT_TRUE(parsed->messages[1]["content"].is_null());
  EXPECT_EQ(parsed->messages[1]["tool_calls"][0]["id"], "c1");
  EXPECT_EQ(parsed->tools.size(), 1u);
  // Keys keep the client's order (the template's tojson prints them so).
  EXPECT_EQ(parsed->messages[0].begin().key(), "role");
}

}  // namespace
}  // namespace loraplex::service
