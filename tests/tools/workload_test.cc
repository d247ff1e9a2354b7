#include "tools/loadgen/workload.h"

#include <cmath>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loraplex::loadgen {
namespace {

using ::testing::HasSubstr;

TEST(ParseIntRangeTest, FixedValueAndRange) {
  absl::StatusOr<IntRange> fixed = ParseIntRange("16", "prompt-tokens");
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->min, 16);
  EXPECT_EQ(fixed->max, 16);
  absl::StatusOr<IntRange> range = ParseIntRange("8:32", "prompt-tokens");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->min, 8);
  EXPECT_EQ(range->max, 32);
}

TEST(ParseIntRangeTest, RejectsMalformedAndEmptyRanges) {
  for (const char* bad : {"", "x", "8:", ":8", "0", "-1", "9:8", "1:2:3"}) {
    absl::StatusOr<IntRange> range = ParseIntRange(bad, "output-tokens");
    EXPECT_EQ(range.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(range.status().message(), HasSubstr("--output-tokens"));
  }
}

TEST(IntRangeTest, SamplesStayInsideAndCoverTheRange) {
  std::mt19937_64 rng(7);
  const IntRange range{3, 6};
  std::map<int32_t, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[range.Sample(rng)];
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.begin()->first, 3);
  EXPECT_EQ(seen.rbegin()->first, 6);
}

TEST(AdapterPickerTest, PowerLawProbabilities) {
  absl::StatusOr<AdapterPicker> picker = AdapterPicker::Create(4, 1.0);
  ASSERT_TRUE(picker.ok()) << picker.status();
  const double norm = 1 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(picker->Probability(i), 1.0 / static_cast<double>(i + 1) / norm,
                1e-12);
  }
  std::mt19937_64 rng(1);
  std::vector<int> counts(4, 0);
  constexpr int kDraws = 40000;
  for (int i = 0; i < kDraws; ++i) ++counts[picker->Pick(rng)];
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(counts[i] / static_cast<double>(kDraws), picker->Probability(i),
                0.01)
        << "adapter " << i;
  }
}

TEST(AdapterPickerTest, AlphaZeroIsUniform) {
  absl::StatusOr<AdapterPicker> picker = AdapterPicker::Create(8, 0.0);
  ASSERT_TRUE(picker.ok());
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(picker->Probability(i), 1.0 / 8, 1e-12);
  }
}

TEST(AdapterPickerTest, RejectsNoAdaptersAndNegativeAlpha) {
  EXPECT_EQ(AdapterPicker::Create(0, 1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<AdapterPicker> negative = AdapterPicker::Create(3, -0.5);
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(negative.status().message(), HasSubstr("--alpha"));
  EXPECT_EQ(AdapterPicker::Create(3, std::nan("")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PoissonArrivalsTest, MeanGapIsOneOverRate) {
  PoissonArrivals arrivals(50.0);
  std::mt19937_64 rng(3);
  double total = 0;
  constexpr int kGaps = 20000;
  for (int i = 0; i < kGaps; ++i) {
    total += absl::ToDoubleSeconds(arrivals.NextGap(rng));
  }
  EXPECT_NEAR(total / kGaps, 1.0 / 50, 0.001);
}

TEST(RandomPromptIdsTest, IdsInRangeAndSeeded) {
  std::mt19937_64 a(5), b(5);
  const std::vector<int32_t> first = RandomPromptIds(100, 20, 3, a);
  EXPECT_EQ(first, RandomPromptIds(100, 20, 3, b));
  ASSERT_EQ(first.size(), 100u);
  for (int32_t id : first) {
    EXPECT_GE(id, 3);
    EXPECT_LT(id, 20);
  }
}

}  // namespace
}  // namespace loraplex::loadgen
