#include "service/http/openai_response.h"

#include <cstddef>

namespace loraplex::service {
namespace {

using Json = nlohmann::ordered_json;

bool IsChat(const ResponseHeader& header) {
  return header.endpoint == OpenAiEndpoint::kChatCompletions;
}

Json Envelope(const ResponseHeader& header, bool chunk) {
  const char* object =
      IsChat(header) ? (chunk ? "chat.completion.chunk" : "chat.completion")
                     : "text_completion";
  return Json{{"id", header.id},
              {"object", object},
              {"created", header.created},
              {"model", header.model}};
}

Json UsageJson(const engine::GenerationUsage& usage) {
  return Json{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

// Completions: {"tokens", "token_logprobs", "top_logprobs" (null: no
// alternatives), "text_offset" (from the start of the completion)}.
Json CompletionLogprobs(const std::vector<TokenLogprob>& tokens,
                        size_t first_offset) {
  Json strings = Json::array();
  Json values = Json::array();
  Json offsets = Json::array();
  size_t offset = first_offset;
  for (const TokenLogprob& token : tokens) {
    strings.push_back(token.token);
    values.push_back(token.logprob);
    offsets.push_back(offset);
    offset += token.token.size();
  }
  return Json{{"tokens", std::move(strings)},
              {"token_logprobs", std::move(values)},
              {"top_logprobs", nullptr},
              {"text_offset", std::move(offsets)}};
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": []}],
// "refusal": null}.
Json ChatLogprobs(const std::vector<TokenLogprob>& tokens) {
  Json content = Json::array();
  for (const TokenLogprob& token : tokens) {
    Json bytes = Json::array();
    for (const char c : token.token) {
      bytes.push_back(static_cast<int>(static_cast<unsigned char>(c)));
    }
    content.push_back(Json{{"token", token.token},
                           {"logprob", token.logprob},
                           {"bytes", std::move(bytes)},
                           {"top_logprobs", Json::array()}});
  }
  return Json{{"content", std::move(content)}, {"refusal", nullptr}};
}

Json LogprobsJson(const ResponseHeader& header,
                  const std::vector<TokenLogprob>* tokens, size_t text_offset) {
  if (tokens == nullptr) return nullptr;
  return IsChat(header) ? ChatLogprobs(*tokens)
                        : CompletionLogprobs(*tokens, text_offset);
}

Json Chunk(const ResponseHeader& header, Json choice, bool include_usage) {
  Json chunk = Envelope(header, /*chunk=*/true);
  chunk["choices"] = Json::array({std::move(choice)});
  if (include_usage) chunk["usage"] = nullptr;
  return chunk;
}

}  // namespace

const char* OpenAiFinishReason(engine::FinishReason reason) {
  return reason == engine::FinishReason::kLength ? "length" : "stop";
}

Json CompletionAnswer(const ResponseHeader& header,
                      const CompletionResult& result) {
  Json answer = Envelope(header, /*chunk=*/false);
  Json choice = {{"index", 0}};
  if (IsChat(header)) {
    choice["message"] = Json{
        {"role", "assistant"}, {"content", result.text}, {"refusal", nullptr}};
  } else {
    choice["text"] = result.text;
  }
  choice["logprobs"] =
      LogprobsJson(header, result.with_logprobs ? &result.logprobs : nullptr,
                   /*text_offset=*/0);
  choice["finish_reason"] = OpenAiFinishReason(result.finish_reason);
  answer["choices"] = Json::array({std::move(choice)});
  answer["usage"] = UsageJson(result.usage);
  return answer;
}

Json RoleChunk(const ResponseHeader& header, bool include_usage) {
  return Chunk(header,
               Json{{"index", 0},
                    {"delta", Json{{"role", "assistant"}, {"content", ""}}},
                    {"logprobs", nullptr},
                    {"finish_reason", nullptr}},
               include_usage);
}

Json TextChunk(const ResponseHeader& header, const std::string& text,
               const std::vector<TokenLogprob>* logprobs, size_t text_offset,
               bool include_usage) {
  Json choice = {{"index", 0}};
  if (IsChat(header)) {
    choice["delta"] = Json{{"content", text}};
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = LogprobsJson(header, logprobs, text_offset);
  choice["finish_reason"] = nullptr;
  return Chunk(header, std::move(choice), include_usage);
}

Json FinishChunk(const ResponseHeader& header, engine::FinishReason reason,
                 bool include_usage) {
  Json choice = {{"index", 0}};
  if (IsChat(header)) {
    choice["delta"] = Json::object();
  } else {
    choice["text"] = "";
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = OpenAiFinishReason(reason);
  return Chunk(header, std::move(choice), include_usage);
}

Json UsageChunk(const ResponseHeader& header,
                const engine::GenerationUsage& usage) {
  Json chunk = Envelope(header, /*chunk=*/true);
  chunk["choices"] = Json::array();
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

}  // namespace loraplex::service
