// The request bodies of POST /v1/completions and /v1/chat/completions:
// parsed and checked field by field against what the engine can do. A field
// that would change the result and that the server cannot honour (n > 1,
// penalties, logit_bias, top alternatives of logprobs, ...) is refused with
// OpenAI's "unsupported_parameter", never ignored; fields that do not change
// the result (user, metadata, store, service_tier) are accepted and
// ignored; a field OpenAI's API does not have is refused. Pure functions.
#ifndef LORAPLEX_SERVICE_HTTP_OPENAI_REQUEST_H_
#define LORAPLEX_SERVICE_HTTP_OPENAI_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/generation_types.h"
#include "nlohmann/json.hpp"
#include "service/frontend/request_limits.h"

namespace loraplex::service {

enum class OpenAiEndpoint {
  kCompletions,      // POST /v1/completions: a prompt.
  kChatCompletions,  // POST /v1/chat/completions: messages, a chat template.
};

// OpenAI's default max_tokens of /v1/completions; chat completions default
// to what fits in the context (the engine caps max_new_tokens by it).
inline constexpr int32_t kCompletionsDefaultMaxTokens = 16;
// The largest request body the JSON parser takes (the HTTP server's
// --http-max-request-bytes bounds it first).
inline constexpr size_t kMaxOpenAiBodyBytes = size_t{64} << 20;

// One entry of the `adapters` extension: an adapter ("<name>" or
// "<owner>/<name>") and its weight in the mix (default 1).
struct OpenAiMixedAdapter {
  std::string name;
  float weight = 1.0f;
};

struct OpenAiRequest {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kCompletions;
  // The base model's id or an adapter name ("<name>" or "<owner>/<name>").
  std::string model;
  // Extension: adapters mixed into this request (base + sum of weight x
  // update, as gRPC's GenerateRequest.adapters); then `model` must be the
  // base model's id, which the caller checks. Count and weight limits are
  // the mix rules of service/frontend/adapter_resolution.h.
  std::vector<OpenAiMixedAdapter> adapters;

  // kCompletions: the prompt, as text or as token ids (exactly one set).
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;

  // kChatCompletions: what the chat template renders. Content given as a
  // list of text parts is joined into one string ('\n' between parts).
  nlohmann::ordered_json messages;              // A non-empty array.
  nlohmann::ordered_json tools;                 // null when absent.
  nlohmann::ordered_json chat_template_kwargs;  // null when absent.
  bool add_generation_prompt = true;

  // temperature (default 1, as OpenAI's), top_p, top_k; `seed` only when
  // the request has one (then seed_given).
  engine::SamplingParams sampling;
  bool seed_given = false;
  // max_new_tokens: the request's max_tokens / max_completion_tokens, or
  // kCompletionsDefaultMaxTokens (completions) / max_seq_len (chat).
  engine::StoppingParams stopping;

  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage.
  // The sampled tokens' log-probabilities (completions: logprobs=0; chat:
  // logprobs=true with top_logprobs absent or 0).
  bool logprobs = false;
};

// Parses `body` (JSON) for `endpoint`. INVALID_ARGUMENT for malformed JSON
// and for every field that is missing, has the wrong type or value, is
// unsupported or unknown; the message names the field and so does the
// status's param (openai_error.h ErrorParam). Token ids are checked against
// `limits`.
absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint,
                                                 std::string_view body,
                                                 const ModelLimits& limits);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_OPENAI_REQUEST_H_
