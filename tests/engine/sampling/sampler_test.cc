#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

SamplingParams Params(float temperature, int32_t top_k = 0, float top_p = 1.0f,
                      uint64_t seed = 0) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = top_k;
  params.top_p = top_p;
  params.seed = seed;
  return params;
}

// log_softmax(logits)[id] computed directly in long double.
double ReferenceLogSoftmax(const std::vector<float>& logits, size_t id) {
  long double max = -INFINITY;
  for (float x : logits) {
    max = std::max<long double>(max, x);
  }
  long double sum = 0;
  for (float x : logits) {
    sum += std::exp(static_cast<long double>(x) - max);
  }
  return static_cast<double>(logits[id] - max - std::log(sum));
}

std::vector<double> Frequencies(const SamplingParams& params,
                                const std::vector<float>& logits, int draws) {
  Sampler sampler(params);
  std::vector<double> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    counts[sampler.Sample(logits)] += 1;
  }
  for (double& c : counts) {
    c /= draws;
  }
  return counts;
}

std::vector<float> RandomLogits(size_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(vocab);
  for (float& x : logits) {
    x = normal(rng);
  }
  return logits;
}

// ---- Greedy ---------------------------------------------------------------

TEST(SamplerTest, GreedyPicksArgmax) {
  Sampler sampler(Params(0.0f));
  EXPECT_TRUE(sampler.greedy());
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.1f, 2.5f, -1.0f, 2.4f}), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-5.0f, -3.0f, -4.0f}), 1);
}

TEST(SamplerTest, GreedyTiesGoToLowestId) {
  Sampler sampler(Params(0.0f));
  EXPECT_EQ(sampler.Sample(std::vector<float>{1.0f, 3.0f, 3.0f, 3.0f}), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{7.0f, 7.0f}), 0);
}

TEST(SamplerTest, GreedyLogprobIsLogSoftmaxOfRawLogits) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.75f};
  Sampler sampler(Params(0.0f));
  float logprob = 0;
  const int32_t id = sampler.Sample(logits, &logprob);
  EXPECT_NEAR(logprob, ReferenceLogSoftmax(logits, id), 1e-6);
}

TEST(SamplerTest, LogprobIsStableForHugeLogits) {
  const std::vector<float> logits = {1000.0f, 999.0f, -3e38f};
  float logprob = 0;
  Sampler(Params(0.0f)).Sample(logits, &logprob);
  EXPECT_NEAR(logprob, -std::log1p(std::exp(-1.0)), 1e-6);
}

// ---- Non-finite logits (Note [Non-finite logits]) -------------------------

TEST(SamplerTest, NaNIsNeverChosen) {
  const std::vector<float> logits = {kNaN, 0.0f, kNaN, -1.0f};
  EXPECT_EQ(Sampler(Params(0.0f)).Sample(logits), 1);
  Sampler sampler(Params(1.0f, 0, 1.0f, 3));
  for (int i = 0; i < 500; ++i) {
    float logprob = 0;
    const int32_t id = sampler.Sample(logits, &logprob);
    ASSERT_TRUE(id == 1 || id == 3) << id;
    EXPECT_TRUE(std::isfinite(logprob));
  }
}

TEST(SamplerTest, AllNaNOrNegativeInfinityGivesIdZero) {
  const std::vector<float> logits = {-kInf, kNaN, -kInf};
  for (float temperature : {0.0f, 1.0f}) {
    float logprob = 0;
    EXPECT_EQ(Sampler(Params(temperature)).Sample(logits, &logprob), 0);
    EXPECT_EQ(logprob, -kInf);
  }
}

TEST(SamplerTest, EmptyRowGivesIdZero) {
  float logprob = 0;
  EXPECT_EQ(Sampler(Params(1.0f)).Sample({}, &logprob), 0);
  EXPECT_EQ(logprob, -kInf);
}

TEST(SamplerTest, PositiveInfinitiesShareTheMass) {
  const std::vector<float> logits = {1.0f, kInf, 5.0f, kInf};
  float logprob = 0;
  EXPECT_EQ(Sampler(Params(0.0f)).Sample(logits, &logprob), 1);
  EXPECT_NEAR(logprob, -std::log(2.0), 1e-6);
  const std::vector<double> freq =
      Frequencies(Params(1.0f, 0, 1.0f, 5), logits, 4000);
  EXPECT_EQ(freq[0] + freq[2], 0.0);
  EXPECT_NEAR(freq[1], 0.5, 0.05);
}

TEST(SamplerTest, ExtremeLogitsAndTinyTemperatureDoNotOverflow) {
  const std::vector<float> logits = {3e38f, -3e38f, 3e38f, 0.0f};
  Sampler sampler(Params(1e-6f, 0, 0.9f, 11));
  for (int i = 0; i < 200; ++i) {
    const int32_t id = sampler.Sample(logits);
    ASSERT_TRUE(id == 0 || id == 2) << id;
  }
}

// ---- Randomness -----------------------------------------------------------

TEST(SamplerTest, SameSeedSameSequence) {
  const std::vector<float> logits(50, 0.0f);
  Sampler a(Params(1.0f, 0, 1.0f, 1234));
  Sampler b(Params(1.0f, 0, 1.0f, 1234));
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(a.Sample(logits), b.Sample(logits));
  }
}

TEST(SamplerTest, DifferentSeedsDifferOnFlatDistribution) {
  const std::vector<float> logits(50, 0.0f);
  Sampler a(Params(1.0f, 0, 1.0f, 1));
  Sampler b(Params(1.0f, 0, 1.0f, 2));
  int differences = 0;
  for (int i = 0; i < 100; ++i) {
    differences += a.Sample(logits) != b.Sample(logits);
  }
  EXPECT_GT(differences, 50);
}

// The stream is specified, not just repeatable: one 53-bit uniform per draw
// from mt19937_64(seed), walked over the tokens in id order.
TEST(SamplerTest, StreamIsThePublishedConversionOfMt19937_64) {
  const std::vector<float> logits(4, 0.0f);
  Sampler sampler(Params(1.0f, 0, 1.0f, 42));
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100; ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    ASSERT_EQ(sampler.Sample(logits), static_cast<int32_t>(u * 4)) << i;
  }
}

TEST(SamplerTest, FrequenciesFollowTheDistribution) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f),
                                     std::log(0.2f)};
  const std::vector<double> freq =
      Frequencies(Params(1.0f, 0, 1.0f, 7), logits, 20000);
  EXPECT_NEAR(freq[0], 0.5, 0.015);
  EXPECT_NEAR(freq[1], 0.3, 0.015);
  EXPECT_NEAR(freq[2], 0.2, 0.015);
}

TEST(SamplerTest, TemperatureSharpensAndFlattens) {
  const std::vector<float> logits = {1.0f, 0.0f};
  const auto p0 = [](double t) { return 1.0 / (1.0 + std::exp(-1.0 / t)); };
  for (float t : {0.5f, 1.0f, 2.0f}) {
    const std::vector<double> freq =
        Frequencies(Params(t, 0, 1.0f, 9), logits, 20000);
    EXPECT_NEAR(freq[0], p0(t), 0.015) << "temperature " << t;
  }
}

TEST(SamplerTest, LogprobIgnoresTemperatureAndTruncation) {
  const std::vector<float> logits = RandomLogits(100, 5);
  Sampler sampler(Params(0.7f, 10, 0.8f, 8));
  for (int i = 0; i < 20; ++i) {
    float logprob = 0;
    const int32_t id = sampler.Sample(logits, &logprob);
    EXPECT_NEAR(logprob, ReferenceLogSoftmax(logits, id), 1e-5);
  }
}

// ---- top-k / top-p ----------------------------------------------------------

TEST(SamplerTest, TopKOneIsGreedy) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> logits = RandomLogits(1000, seed);
    logits[17] = logits[500] = 100.0f;  // A tie at the top.
    EXPECT_EQ(Sampler(Params(1.5f, 1, 1.0f, seed)).Sample(logits), 17);
  }
}

TEST(SamplerTest, TinyTopPIsGreedy) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = RandomLogits(1000, seed);
    const int32_t greedy = Sampler(Params(0.0f)).Sample(logits);
    EXPECT_EQ(Sampler(Params(1.0f, 0, 1e-6f, seed)).Sample(logits), greedy);
  }
}

TEST(SamplerTest, TopKKeepsOnlyTheBestK) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f),
                                     std::log(0.2f)};
  const std::vector<double> freq =
      Frequencies(Params(1.0f, 2, 1.0f, 13), logits, 20000);
  EXPECT_EQ(freq[2], 0.0);
  EXPECT_NEAR(freq[0], 0.625, 0.015);  // 0.5 / 0.8, renormalised
}

TEST(SamplerTest, TopPKeepsShortestPrefixReachingTheMass) {
  const std::vector<float> logits = {std::log(0.2f), std::log(0.5f),
                                     std::log(0.3f)};
  // 0.5 < 0.7 <= 0.5 + 0.3: tokens 1 and 2 stay.
  const std::vector<double> freq =
      Frequencies(Params(1.0f, 0, 0.7f, 17), logits, 20000);
  EXPECT_EQ(freq[0], 0.0);
  EXPECT_NEAR(freq[1], 0.625, 0.015);
  EXPECT_NEAR(freq[2], 0.375, 0.015);
}

// On a 150k vocabulary, every draw lies inside the nucleus / top-k set that
// a brute-force full sort computes.
TEST(SamplerTest, LargeVocabularyDrawsStayInsideTheKeptSet) {
  const std::vector<float> logits = RandomLogits(150000, 21);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<int32_t> rank(logits.size());
  for (size_t r = 0; r < order.size(); ++r) {
    rank[order[r]] = static_cast<int32_t>(r);
  }
  double total = 0;
  for (float x : logits) {
    total += std::exp(static_cast<double>(x) - logits[order[0]]);
  }
  double mass = 0;
  size_t nucleus = 0;
  while (mass < 0.9 * total) {
    mass += std::exp(static_cast<double>(logits[order[nucleus]]) -
                     logits[order[0]]);
    ++nucleus;
  }
  Sampler top_p(Params(1.0f, 0, 0.9f, 3));
  Sampler top_k(Params(1.0f, 40, 1.0f, 4));
  for (int i = 0; i < 200; ++i) {
    ASSERT_LE(rank[top_p.Sample(logits)], static_cast<int32_t>(nucleus));
    ASSERT_LT(rank[top_k.Sample(logits)], 40);
  }
}

// ---- Validation -----------------------------------------------------------

TEST(ValidateSamplingParamsTest, AcceptsValidParams) {
  EXPECT_TRUE(ValidateSamplingParams(Params(0.0f)).ok());
  EXPECT_TRUE(ValidateSamplingParams(Params(1.3f, 50, 0.95f, 9)).ok());
  EXPECT_TRUE(ValidateSamplingParams(Params(1.0f, 0, 1.0f)).ok());
}

TEST(ValidateSamplingParamsTest, RefusesBadParams) {
  struct Case {
    SamplingParams params;
    const char* message;
  };
  const Case cases[] = {
      {Params(-0.5f), "temperature must be a finite number >= 0"},
      {Params(kNaN), "temperature must be a finite number >= 0"},
      {Params(kInf), "temperature must be a finite number >= 0"},
      {Params(1.0f, -1), "top_k must be >= 0 (got -1)"},
      {Params(1.0f, 0, 0.0f), "top_p must be in (0, 1]"},
      {Params(1.0f, 0, 1.5f), "top_p must be in (0, 1]"},
      {Params(1.0f, 0, kNaN), "top_p must be in (0, 1]"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateSamplingParams(c.params);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
}

TEST(SamplerTest, InvalidTemperatureFallsBackToGreedy) {
  Sampler sampler(Params(-1.0f));
  EXPECT_TRUE(sampler.greedy());
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 4.0f, 1.0f}), 1);
}

}  // namespace
}  // namespace loraplex::engine
