// Token selection from one row of logits. Plain C++ over floats so the same
// seed gives the same tokens on any device and in any batch composition.
#ifndef LORAPLEX_ENGINE_SAMPLING_SAMPLER_H_
#define LORAPLEX_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace loraplex::engine {

struct SamplingParams {
  // 0 = greedy (argmax; ties go to the lowest id). Otherwise logits are
  // divided by it before top-k / top-p.
  float temperature = 0.0f;
  int32_t top_k = 0;   // 0 = no limit.
  float top_p = 1.0f;  // Nucleus mass in (0, 1]; 1 = no limit.
  uint64_t seed = 0;   // Per request: same seed, same output.
};

// INVALID_ARGUMENT for a negative or non-finite temperature, negative top_k,
// top_p outside (0, 1].
absl::Status ValidateSamplingParams(const SamplingParams& params);

// Note [Non-finite logits]
// A NaN logit counts as -inf: it is never chosen (unless every logit is
// -inf or NaN) and adds nothing to the softmax. +inf logits count as the
// largest float: they share the probability mass equally and greedy picks
// the lowest such id. When every logit is -inf or NaN the row carries no
// information: Sample returns id 0 with logprob -inf, and draws no random
// number. An empty row does the same.

// One per request; owns the request's random stream. Not thread-safe.
//
// Non-greedy sampling: logits / temperature, keep the top_k best (ties go
// to the lower id), softmax, keep the shortest best-first prefix whose mass
// reaches top_p (at least one token), renormalise, and draw one token with
// exactly one number from a std::mt19937_64 seeded with `seed`, so a seed
// replays the same tokens on any machine and standard library.
class Sampler {
 public:
  // `params` should have passed ValidateSamplingParams. Otherwise an invalid
  // temperature means greedy, a negative top_k none, an invalid top_p 1.
  explicit Sampler(const SamplingParams& params);

  bool greedy() const { return params_.temperature == 0.0f; }

  // Picks the next token id from `logits` (length = vocab). When `logprob`
  // is non-null it receives log softmax(logits)[id] of the unmodified logits
  // (before temperature, top-k and top-p).
  int32_t Sample(absl::Span<const float> logits, float* logprob = nullptr);

 private:
  int32_t SampleRandom(absl::Span<const float> logits);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> scratch_;  // Reused between calls.
  std::vector<std::pair<float, int32_t>> nucleus_scratch_;  // Likewise.
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAMPLING_SAMPLER_H_
