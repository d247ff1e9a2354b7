// Plain C++ types that cross the engine boundary. No LibTorch here: the
// service (which includes protobuf headers) must be able to include this.
#ifndef LORAPLEX_ENGINE_GENERATION_TYPES_H_
#define LORAPLEX_ENGINE_GENERATION_TYPES_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/sampling/sampler.h"

namespace loraplex::engine {

using RequestId = uint64_t;

struct StoppingParams {
  int32_t max_new_tokens = 16;  // >= 1; capped by the KV capacity.
  bool ignore_eos = false;      // Keep going past the model's EOS ids.
  std::vector<int32_t> stop_token_ids;  // Generation ends after one of these.
  std::vector<std::string> stop_strings;  // Output is cut before the match.
};

// One adapter of a mix and its weight (Note [Adapter mixing] in
// engine/runtime/llama_model.cc).
struct WeightedAdapter {
  std::string adapter_id;  // As GenerationRequest::adapter_id.
  float weight = 1.0f;
};
// Limits of GenerationRequest::adapters (INVALID_ARGUMENT beyond them).
inline constexpr int kMaxMixedAdapters = 4;
inline constexpr float kMaxAdapterWeight = 10.0f;  // |weight|, finite.

struct GenerationRequest {
  // Engine adapter id given to Engine::RegisterAdapter; empty = base model.
  std::string adapter_id;
  // Or a mix of 1 to kMaxMixedAdapters distinct adapters (adapter_id then
  // empty): the request's rows compute base(x) + sum_i weight_i * delta_i(x).
  // One adapter at weight 1 is exactly `adapter_id`.
  std::vector<WeightedAdapter> adapters;
  // Prompt: token ids, or text that the model's tokenizer encodes when
  // `prompt_ids` is empty.
  std::vector<int32_t> prompt_ids;
  std::string prompt_text;
  // Whether `prompt_text` is encoded with the tokenizer's special tokens
  // (e.g. BOS). False for text that already holds them, such as a rendered
  // chat template (transformers' chat pipeline encodes it the same way).
  bool add_special_tokens = true;
  SamplingParams sampling;
  StoppingParams stopping;
  // Fair admission key: queued requests are admitted round-robin by tenant.
  std::string tenant;
  bool return_last_logits = false;  // Logits at the last prompt position.
  bool return_logprobs = false;     // Log-probability of each sampled token.
};

enum class FinishReason {
  kNone,       // Not finished (intermediate event).
  kLength,     // max_new_tokens or the KV capacity reached.
  kStop,       // A stop string or stop token id.
  kEos,        // The model's EOS.
  kCancelled,  // Engine::Cancel, or shutdown.
  kError,      // See GenerationEvent::error.
};
const char* FinishReasonName(FinishReason reason);  // "length", "stop", ...

struct GenerationUsage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
};

struct GenerationTimings {
  absl::Duration queue;        // Submit -> first scheduled step.
  absl::Duration first_token;  // Submit -> first token sampled.
  absl::Duration total;        // Submit -> finished.
};

// One callback invocation. Intermediate events carry the tokens sampled in
// one step and the text they made final; the last event has finished=true
// (and may carry a final piece of text).
struct GenerationEvent {
  RequestId request_id = 0;
  std::vector<int32_t> token_ids;
  std::vector<float> logprobs;  // Parallel to token_ids when requested.
  std::string text;
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  absl::Status error;  // Set when finish_reason == kError.
  GenerationUsage usage;       // Final event only.
  GenerationTimings timings;   // Final event only.
  std::vector<float> last_logits;  // First event only, when requested.
};

// Called on the engine loop thread: it must not block (queue the event and
// return). After the event with finished=true the callback is not called
// again and is destroyed.
using GenerationCallback = std::function<void(const GenerationEvent&)>;

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_GENERATION_TYPES_H_
