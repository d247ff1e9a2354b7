// The JSON answers of /v1/completions and /v1/chat/completions in OpenAI's
// shapes: the whole answer, and the chunks of a streamed one (each the
// payload of one Server-Sent Event `data:` line). Pure functions.
#ifndef LORAPLEX_SERVICE_HTTP_OPENAI_RESPONSE_H_
#define LORAPLEX_SERVICE_HTTP_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/generation_types.h"
#include "nlohmann/json.hpp"
#include "service/http/openai_request.h"

namespace loraplex::service {

// What every answer and chunk of one request repeats.
struct ResponseHeader {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kCompletions;
  std::string id;       // "cmpl-..." or "chatcmpl-...".
  int64_t created = 0;  // Unix seconds.
  std::string model;    // As the request named it.
};

// One sampled token and its log-probability (of the model's distribution,
// before temperature, top-k and top-p).
struct TokenLogprob {
  std::string token;  // Its text alone (may hold part of a character).
  float logprob = 0;
};

// The collected result of a whole generation.
struct CompletionResult {
  std::string text;
  engine::FinishReason finish_reason = engine::FinishReason::kNone;
  engine::GenerationUsage usage;
  bool with_logprobs = false;
  std::vector<TokenLogprob> logprobs;  // When with_logprobs.
};

// "stop" (a stop string or id, or EOS) or "length".
const char* OpenAiFinishReason(engine::FinishReason reason);

// The non-streamed answer.
nlohmann::ordered_json CompletionAnswer(const ResponseHeader& header,
                                        const CompletionResult& result);

// Streamed chunks. Chat streams start with RoleChunk; every stream then has
// a TextChunk per engine event with text or tokens, one FinishChunk, and,
// with stream_options.include_usage, a UsageChunk (every other chunk then
// carries "usage": null, as OpenAI's do).
nlohmann::ordered_json RoleChunk(const ResponseHeader& header,
                                 bool include_usage);
// `logprobs`: the event's tokens, when the request asked for them (else
// null); `text_offset`: the bytes of text streamed before this chunk (the
// completions' logprobs.text_offset starts there).
nlohmann::ordered_json TextChunk(const ResponseHeader& header,
                                 const std::string& text,
                                 const std::vector<TokenLogprob>* logprobs,
                                 size_t text_offset, bool include_usage);
nlohmann::ordered_json FinishChunk(const ResponseHeader& header,
                                   engine::FinishReason reason,
                                   bool include_usage);
nlohmann::ordered_json UsageChunk(const ResponseHeader& header,
                                  const engine::GenerationUsage& usage);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_OPENAI_RESPONSE_H_
