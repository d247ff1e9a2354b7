// Internal: one generation request as the engine loop tracks it.
#ifndef LORAPLEX_ENGINE_RUNTIME_SEQUENCE_H_
#define LORAPLEX_ENGINE_RUNTIME_SEQUENCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "engine/generation_types.h"
#include "engine/runtime/adapter_use.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_string_matcher.h"
#include "engine/tokenizer/tokenizer.h"

namespace loraplex::engine {

// One adapter a request uses (a plain request has one at weight 1; a mix,
// up to kMaxMixedAdapters).
struct SequenceAdapter {
  // The registration the request was submitted with; held until the
  // Sequence dies (Note [Adapter lifetime]).
  AdapterUse use;
  float weight = 1.0f;
  int64_t slot = -1;  // Pinned LoraBank slot while running, else -1.
};

// Lifecycle: queued (in the fair queue, waiting for a KV slot and its
// adapter) -> prefill (prompt chunks being written to the KV cache) ->
// decode (one token per step) -> finished (event with finished=true sent,
// KV slot and adapter pin released).
struct Sequence {
  Sequence(RequestId request_id, GenerationRequest req, GenerationCallback cb)
      : id(request_id),
        request(std::move(req)),
        callback(std::move(cb)),
        sampler(request.sampling),
        stops(request.stopping.stop_strings) {}

  bool in_prefill() const {
    return num_computed < static_cast<int64_t>(prompt.size());
  }
  int64_t total_tokens() const {
    return static_cast<int64_t>(prompt.size() + output.size());
  }

  const RequestId id;
  GenerationRequest request;
  GenerationCallback callback;
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  Sampler sampler;
  StopStringMatcher stops;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;  // Null: no tokenizer.
  // Empty for the base model. Acquired all together or not at all (Note
  // [Mixed adapter admission] in engine_step.cc).
  std::vector<SequenceAdapter> adapters;

  int64_t kv_slot = -1;
  int64_t num_computed = 0;  // Tokens whose K/V are in the cache.
  bool cache_outcome_reported = false;
  bool finished = false;

  absl::Time submitted;
  std::optional<absl::Time> scheduled;
  std::optional<absl::Time> first_token;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_SEQUENCE_H_
