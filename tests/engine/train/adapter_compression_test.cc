// CompressLoraAdapter against a dense reference: every module's ΔW = s·B·A
// formed explicitly and decomposed with a full SVD (Eckart–Young: the best
// rank-K approximation keeps the top K singular triplets).
#include "engine/train/adapter_compression.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/config/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/lora/lora_test_util.h"
#include "tests/engine/train/adapter_updates.h"
#include "tests/support/temp_dir.h"

namespace loraplex::engine {
namespace {

using ::testing::HasSubstr;
using train_testing::FixtureAdapterUpdates;

// The best rank-k approximation of `dense`, and the relative Frobenius
// error it leaves.
std::pair<torch::Tensor, double> BestRankK(const torch::Tensor& dense,
                                           int64_t k) {
  const auto [u, s, vh] = torch::linalg_svd(dense, /*full_matrices=*/false);
  const torch::Tensor approx =
      u.slice(1, 0, k).mm(torch::diag(s.slice(0, 0, k)).mm(vh.slice(0, 0, k)));
  const double total = s.pow(2).sum().item<double>();
  const double dropped = s.slice(0, k).pow(2).sum().item<double>();
  return {approx, total > 0 ? std::sqrt(dropped / total) : 0.0};
}

double RelativeDifference(const torch::Tensor& x, const torch::Tensor& y) {
  const double norm = y.norm().item<double>();
  return (x - y).norm().item<double>() / (norm > 0 ? norm : 1.0);
}

TEST(AdapterCompressionTest, FullRankIsExactAndLoads) {
  loraplex::testing::TempDir out;
  const std::string input = FixtureDir("llama-gqa/adapters/all-r16");
  AdapterCompressionOptions options;
  options.adapter_dir = input;
  options.out_dir = out.path();
  options.rank = 16;
  absl::StatusOr<AdapterCompressionReport> report =
      CompressLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->max_rank_in, 16);
  EXPECT_NEAR(report->retained_energy, 1.0, 1e-9);
  EXPECT_EQ(report->bytes_in, report->bytes_out);

  const auto original = FixtureAdapterUpdates(input);
  const auto compressed = FixtureAdapterUpdates(out.path());
  ASSERT_EQ(original.size(), 14u);  // 2 layers x 7 modules.
  ASSERT_EQ(compressed.size(), original.size());
  for (const auto& [where, dense] : original) {
    SCOPED_TRACE(
        absl::StrCat("layer ", where.first, " ", LinearKindName(where.second)));
    // float32 storage of the new factors: exact to its precision.
    EXPECT_LT(RelativeDifference(compressed.at(where), dense), 1e-6);
  }
}

TEST(AdapterCompressionTest, LowerRankIsTheBestApproximation) {
  loraplex::testing::TempDir out;
  const std::string input = FixtureDir("llama-gqa/adapters/all-r16");
  AdapterCompressionOptions options;
  options.adapter_dir = input;
  options.out_dir = out.path();
  options.rank = 4;
  absl::StatusOr<AdapterCompressionReport> report =
      CompressLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->max_rank_out, 4);

  const auto original = FixtureAdapterUpdates(input);
  const auto compressed = FixtureAdapterUpdates(out.path());
  ASSERT_EQ(compressed.size(), original.size());
  ASSERT_EQ(report->modules.size(), original.size());
  double dropped = 0;
  double total = 0;
  for (const ModuleCompression& m : report->modules) {
    SCOPED_TRACE(absl::StrCat("layer ", m.layer, " ", m.module));
    const std::pair<int64_t, LinearKind> where{m.layer,
                                               *LinearKindFromName(m.module)};
    const torch::Tensor& dense = original.at(where);
    const auto [best, best_error] = BestRankK(dense, 4);
    EXPECT_EQ(m.rank_in, 16);
    EXPECT_EQ(m.rank_out, 4);
    EXPECT_LT(RelativeDifference(compressed.at(where), best), 1e-5);
    EXPECT_NEAR(m.relative_error, best_error, 1e-9);
    EXPECT_NEAR(RelativeDifference(compressed.at(where), dense), best_error,
                1e-5);
    EXPECT_NEAR(m.retained_energy, 1 - best_error * best_error, 1e-9);
    EXPECT_EQ(m.bytes_in * 4, m.bytes_out * 16);
    const double norm2 = dense.pow(2).sum().item<double>();
    total += norm2;
    dropped += best_error * best_error * norm2;
  }
  EXPECT_NEAR(report->relative_error, std::sqrt(dropped / total), 1e-9);
  EXPECT_EQ(report->bytes_in, 4 * report->bytes_out);
}

TEST(AdapterCompressionTest, EnergyPicksEachModulesSmallestSufficientRank) {
  loraplex::testing::TempDir out;
  const std::string input = FixtureDir("llama-gqa/adapters/all-r16");
  AdapterCompressionOptions options;
  options.adapter_dir = input;
  options.out_dir = out.path();
  options.energy = 0.9;
  absl::StatusOr<AdapterCompressionReport> report =
      CompressLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();

  const auto original = FixtureAdapterUpdates(input);
  // Opening checks every module's factors against the rank the written
  // config resolves for it (rank_pattern), so the ranks round-trip.
  const auto compressed = FixtureAdapterUpdates(out.path());
  ASSERT_EQ(compressed.size(), original.size());
  std::map<int64_t, int> ranks_seen;
  for (const ModuleCompression& m : report->modules) {
    SCOPED_TRACE(absl::StrCat("layer ", m.layer, " ", m.module));
    const std::pair<int64_t, LinearKind> where{m.layer,
                                               *LinearKindFromName(m.module)};
    const torch::Tensor s = std::get<1>(
        torch::linalg_svd(original.at(where), /*full_matrices=*/false));
    const torch::Tensor cumulative = s.pow(2).cumsum(0) / s.pow(2).sum();
    int64_t expected = 1;
    while (cumulative[expected - 1].item<double>() < 0.9) ++expected;
    EXPECT_EQ(m.rank_out, expected);
    EXPECT_GE(m.retained_energy, 0.9);
    EXPECT_EQ(compressed.at(where).size(0), original.at(where).size(0));
    EXPECT_NEAR(RelativeDifference(compressed.at(where), original.at(where)),
                m.relative_error, 1e-5);
    ++ranks_seen[m.rank_out];
  }
  // Random factors: the modules' spectra differ, so do their ranks, and
  // the patterns are exercised.
  EXPECT_GT(ranks_seen.size(), 1u);
}

TEST(AdapterCompressionTest, RsLoraScaleIsFoldedIntoTheFactors) {
  loraplex::testing::TempDir out;
  const std::string input = FixtureDir("llama-gqa/adapters/attn-r4-rslora");
  AdapterCompressionOptions options;
  options.adapter_dir = input;
  options.out_dir = out.path();
  options.rank = 2;
  absl::StatusOr<AdapterCompressionReport> report =
      CompressLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  const auto original = FixtureAdapterUpdates(input);
  const auto compressed = FixtureAdapterUpdates(out.path());
  ASSERT_EQ(compressed.size(), original.size());
  for (const auto& [where, dense] : original) {
    EXPECT_LT(
        RelativeDifference(compressed.at(where), BestRankK(dense, 2).first),
        1e-5);
  }
}

TEST(AdapterCompressionTest, BadOptionsAndInputsAreRefused) {
  loraplex::testing::TempDir out;
  AdapterCompressionOptions options;
  options.adapter_dir = FixtureDir("llama-gqa/adapters/qv-r8");
  options.out_dir = out.path();
  EXPECT_EQ(CompressLoraAdapter(options).status().code(),
            absl::StatusCode::kInvalidArgument);  // Neither.
  options.rank = 4;
  options.energy = 0.5;
  EXPECT_EQ(CompressLoraAdapter(options).status().code(),
            absl::StatusCode::kInvalidArgument);  // Both.
  options.rank = 0;
  options.energy = 1.5;
  EXPECT_EQ(CompressLoraAdapter(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.energy = 0;
  options.rank = 4;
  options.adapter_dir = out.path() + "/missing";
  EXPECT_EQ(CompressLoraAdapter(options).status().code(),
            absl::StatusCode::kNotFound);

  // A module whose factors disagree with the config's rank.
  loraplex::testing::TempDir bad;
  const std::string qv = FixtureDir("llama-gqa/adapters/qv-r8");
  nlohmann::json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["r"] = 4;
  testing::WriteFile(bad.path() + "/adapter_config.json", config.dump());
  testing::WriteFile(bad.path() + "/adapter_model.safetensors",
                     testing::ReadFile(qv + "/adapter_model.safetensors"));
  options.adapter_dir = bad.path();
  const absl::Status status = CompressLoraAdapter(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("[4, in]"));
}

}  // namespace
}  // namespace loraplex::engine
