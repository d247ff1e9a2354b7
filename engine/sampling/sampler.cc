#include "engine/sampling/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace loraplex::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kMaxFloat = std::numeric_limits<float>::max();

// Tokens whose temperature-scaled logit lies more than this below the best
// one are dropped before the softmax: each has probability < e^-50 of the
// best token's, so even 2^18 of them together weigh less than the 2^-53
// resolution of the uniform draw.
constexpr double kNegligibleScaledLogit = -50.0;

// Up to this top_k, the best k are kept in a heap while scanning (one
// comparison per rejected token); above it, nth_element over all tokens.
constexpr size_t kHeapTopKLimit = 1024;

using Candidate = std::pair<float, int32_t>;  // (value, token id)

// See Note [Non-finite logits] in sampler.h: +inf becomes the largest
// float. NaN stays NaN: every comparison below is false for it, so it
// is never chosen and never enters the softmax.
inline float ClampInfinity(float logit) { return std::min(logit, kMaxFloat); }

// A strict total order: larger value first, then lower id. Every selection
// below uses it, so results never depend on the standard library's sort.
inline bool Better(const Candidate& a, const Candidate& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

int32_t Argmax(absl::Span<const float> logits) {
  int32_t best = 0;
  float best_value = kNegInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    // Strict: ties keep the lower id; NaN compares false and never wins.
    if (logits[i] > best_value) {
      best_value = logits[i];
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

// The largest logit with +inf clamped; -inf when all are -inf or NaN.
float MaxLogit(absl::Span<const float> logits) {
  float max = kNegInf;
  for (float logit : logits) {
    if (logit > max) {
      max = logit;
    }
  }
  return ClampInfinity(max);
}

// log_softmax(logits)[id], shifted by the maximum so no exp overflows.
float LogSoftmaxAt(absl::Span<const float> logits, int32_t id) {
  const float max = MaxLogit(logits);
  if (max == kNegInf) {
    return kNegInf;
  }
  double sum = 0;
  for (float logit : logits) {
    const float shifted = ClampInfinity(logit) - max;
    if (shifted >= -104.0f) {
      sum += std::exp(shifted);  // Below: exp is 0.
    }
  }
  const float chosen = ClampInfinity(logits[id]);
  if (!(chosen > kNegInf)) {
    return kNegInf;  // -inf or NaN
  }
  return static_cast<float>(static_cast<double>(chosen) - max - std::log(sum));
}

// 53 random bits -> a double in [0, 1). Written out because
// std::uniform_real_distribution may differ between standard libraries.
double UniformDouble(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Appends the best `k` tokens by logit (Better order) to `out`, unordered,
// as (clamped logit, id). The heap's front is the worst token kept.
void CollectTopK(absl::Span<const float> logits, size_t k,
                 std::vector<Candidate>& out) {
  for (size_t i = 0; i < logits.size(); ++i) {
    const Candidate candidate(ClampInfinity(logits[i]),
                              static_cast<int32_t>(i));
    if (!(candidate.first > kNegInf)) {
      continue;  // -inf or NaN
    }
    if (out.size() < k) {
      out.push_back(candidate);
      std::push_heap(out.begin(), out.end(), Better);
    } else if (Better(candidate, out.front())) {
      std::pop_heap(out.begin(), out.end(), Better);
      out.back() = candidate;
      std::push_heap(out.begin(), out.end(), Better);
    }
  }
}

// Buckets of the top-p histogram: the top 12 bits of a positive float
// (exponent and 3 mantissa bits) are monotone in its value, and split each
// power of two into 8 buckets. Weights are <= 1, so they stay below 1024.
constexpr size_t kWeightBuckets = 1024;
inline size_t WeightBucket(float weight) {
  uint32_t bits;
  std::memcpy(&bits, &weight, sizeof(bits));
  return bits >> 20;
}

// The worst candidate of the nucleus: the shortest best-first prefix of
// `candidates` (unnormalised probabilities <= 1 summing to `total`) whose
// mass reaches top_p. Runs in linear time: a histogram of the weights finds
// the bucket where the mass crosses top_p, and only that bucket is sorted.
// `bucket` is scratch space.
Candidate NucleusBoundary(const std::vector<Candidate>& candidates,
                          double total, double top_p,
                          std::vector<Candidate>& bucket) {
  const double threshold = top_p * total;
  std::array<double, kWeightBuckets> bucket_mass{};
  for (const Candidate& c : candidates) {
    bucket_mass[WeightBucket(c.first)] += c.first;
  }
  size_t crossing = kWeightBuckets - 1;
  double above = 0;  // Mass of the buckets better than `crossing`.
  while (crossing > 0 && above + bucket_mass[crossing] < threshold) {
    above += bucket_mass[crossing--];
  }
  bucket.clear();
  for (const Candidate& c : candidates) {
    if (WeightBucket(c.first) == crossing) {
      bucket.push_back(c);
    }
  }
  // Rounding can leave the crossing bucket empty: then keep everything.
  if (bucket.empty()) {
    return Candidate(0.0f, std::numeric_limits<int32_t>::max());
  }
  std::sort(bucket.begin(), bucket.end(), Better);
  for (const Candidate& c : bucket) {
    above += c.first;
    if (above >= threshold) {
      return c;
    }
  }
  return bucket.back();
}

// Draws from `candidates` (unnormalised probabilities summing to `total`)
// walking them in their current order.
int32_t Draw(const std::vector<Candidate>& candidates, double total,
             std::mt19937_64& rng) {
  double target = UniformDouble(rng) * total;
  for (const Candidate& candidate : candidates) {
    if (target < candidate.first) {
      return candidate.second;
    }
    target -= candidate.first;
  }
  return candidates.back().second;  // Rounding left a sliver past the end.
}

SamplingParams Sanitized(SamplingParams params) {
  if (!(params.temperature > 0) || !std::isfinite(params.temperature)) {
    params.temperature = 0;
  }
  params.top_k = std::max(params.top_k, 0);
  if (!(params.top_p > 0 && params.top_p <= 1)) {
    params.top_p = 1;
  }
  return params;
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params) {
  if (!std::isfinite(params.temperature) || params.temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0 (got ",
                     params.temperature, ")"));
  }
  if (params.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be >= 0 (got ", params.top_k, ")"));
  }
  if (!(params.top_p > 0 && params.top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_p must be in (0, 1] (got ", params.top_p, ")"));
  }
  return absl::OkStatus();
}

Sampler::Sampler(const SamplingParams& params)
    : params_(Sanitized(params)), rng_(params.seed) {}

int32_t Sampler::Sample(absl::Span<const float> logits, float* logprob) {
  if (logits.empty()) {
    if (logprob != nullptr) {
      *logprob = kNegInf;
    }
    return 0;
  }
  const int32_t chosen = greedy() ? Argmax(logits) : SampleRandom(logits);
  if (logprob != nullptr) {
    *logprob = LogSoftmaxAt(logits, chosen);
  }
  return chosen;
}

int32_t Sampler::SampleRandom(absl::Span<const float> logits) {
  const float max = MaxLogit(logits);
  if (max == kNegInf) {
    return 0;  // Note [Non-finite logits].
  }
  const size_t top_k = static_cast<size_t>(params_.top_k);
  scratch_.clear();
  if (top_k > 0 && top_k <= kHeapTopKLimit && top_k < logits.size()) {
    scratch_.reserve(top_k);
    CollectTopK(logits, top_k, scratch_);
  } else {
    scratch_.reserve(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
      const float logit = ClampInfinity(logits[i]);
      if (logit > kNegInf) {
        scratch_.emplace_back(logit, static_cast<int32_t>(i));
      }
    }
    if (top_k > 0 && top_k < scratch_.size()) {
      std::nth_element(scratch_.begin(), scratch_.begin() + top_k,
                       scratch_.end(), Better);
      scratch_.resize(top_k);
    }
  }
  // Softmax numerators. Shifting by the maximum before dividing by the
  // temperature keeps every exponent <= 0 (the best token's is exactly 0):
  // nothing overflows, whatever the logits and temperature.
  const double inverse_temperature = 1.0 / params_.temperature;
  double total = 0;
  size_t kept = 0;
  for (const Candidate& candidate : scratch_) {
    const double scaled =
        (static_cast<double>(candidate.first) - max) * inverse_temperature;
    if (scaled < kNegligibleScaledLogit) {
      continue;
    }
    const float weight = std::exp(static_cast<float>(scaled));
    scratch_[kept++] = Candidate(weight, candidate.second);
    total += weight;
  }
  scratch_.resize(kept);
  if (top_k > 0) {
    // Selection left an unspecified order; walk in id order as the
    // unlimited path does.
    std::sort(scratch_.begin(), scratch_.end(),
              [](const Candidate& a, const Candidate& b) {
                return a.second < b.second;
              });
  }
  if (params_.top_p < 1.0f) {
    const Candidate boundary =
        NucleusBoundary(scratch_, total, params_.top_p, nucleus_scratch_);
    kept = 0;
    total = 0;
    for (const Candidate& candidate : scratch_) {
      if (Better(boundary, candidate)) {
        continue;  // Outside the nucleus.
      }
      scratch_[kept++] = candidate;
      total += candidate.first;
    }
    scratch_.resize(kept);
  }
  return Draw(scratch_, total, rng_);
}

}  // namespace loraplex::engine
