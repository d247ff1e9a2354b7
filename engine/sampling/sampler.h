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
  int32_t top_k = 0;    // 0 = no limit.
  float top_p = 1.0f;   // Nucleus mass in (0, 1]; 1 = no limit.
  uint64_t seed = 0;    // Per request: same seed, same output.
};

// INVALID_ARGUMENT for a negative or non-finite temperature, negative top_k,
// top_p outside (0, 1].
absl::Status ValidateSamplingParams(const SamplingParams& params);

// One per request; owns the request's random stream. Not thread-safe.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  bool greedy() const { return params_.temperature == 0.0f; }

  // Picks the next token id from `logits` (length = vocab). When `logprob`
  // is non-null it receives log softmax(logits)[id] of the unmodified logits.
  int32_t Sample(absl::Span<const float> logits, float* logprob = nullptr);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> scratch_;  // Reused between calls.
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAMPLING_SAMPLER_H_
