// ExtractLoraAdapter on a "fine-tuned" copy of the fixture model whose
// weights differ from the base by known updates.
#include "engine/train/adapter_extraction.h"

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/config/model_config.h"
#include "engine/safetensors/safetensors_writer.h"
#include "engine/train/model_export.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/lora/lora_test_util.h"
#include "tests/engine/train/adapter_updates.h"
#include "tests/support/temp_dir.h"

namespace loraplex::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using train_testing::FixtureAdapterUpdates;
using train_testing::Updates;

std::string WeightName(int64_t layer, LinearKind kind) {
  return absl::StrCat("model.layers.", layer, ".", LinearKindParent(kind), ".",
                      LinearKindName(kind), ".weight");
}

// Copies the fixture model to `dir` with `updates` added to its weights and
// `others` (name -> added constant) to other tensors.
void WriteTunedModel(const std::string& dir, const Updates& updates,
                     const std::map<std::string, float>& others = {}) {
  const std::string base = FixtureDir("llama-gqa/model");
  testing::CopyDirectory(base, dir);
  absl::StatusOr<std::map<std::string, torch::Tensor>> tensors =
      ReadModelTensors(base);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  for (const auto& [where, delta] : updates) {
    torch::Tensor& w = tensors->at(WeightName(where.first, where.second));
    w = w + delta.to(torch::kFloat32);
  }
  for (const auto& [name, added] : others) {
    tensors->at(name) = tensors->at(name) + added;
  }
  SafetensorsWriter writer;
  for (const auto& [name, value] : *tensors) {
    const torch::Tensor v = value.contiguous();
    ASSERT_TRUE(
        writer.AddFloat32(name, v.sizes().vec(), v.data_ptr<float>()).ok());
  }
  ASSERT_TRUE(writer.WriteFile(dir + "/model.safetensors").ok());
}

// Rank-2 updates of q_proj and v_proj in both layers, float32-exact.
Updates RankTwoUpdates() {
  torch::manual_seed(7);
  Updates updates;
  for (int64_t layer = 0; layer < 2; ++layer) {
    for (LinearKind kind : {LinearKind::kQ, LinearKind::kV}) {
      const int64_t out = kind == LinearKind::kQ ? 64 : 32;
      const torch::Tensor b = 0.1 * torch::randn({out, 2});
      const torch::Tensor a = 0.1 * torch::randn({2, 64});
      updates[{layer, kind}] = b.mm(a);
    }
  }
  return updates;
}

// The update actually stored (tuned − base, after float32 rounding).
torch::Tensor StoredUpdate(const Updates& updates,
                           std::pair<int64_t, LinearKind> where) {
  absl::StatusOr<std::map<std::string, torch::Tensor>> base =
      ReadModelTensors(FixtureDir("llama-gqa/model"));
  const torch::Tensor w =
      base->at(WeightName(where.first, where.second)).to(torch::kFloat64);
  const torch::Tensor tuned = (base->at(WeightName(where.first, where.second)) +
                               updates.at(where).to(torch::kFloat32))
                                  .to(torch::kFloat64);
  return tuned - w;
}

double RelativeDifference(const torch::Tensor& x, const torch::Tensor& y) {
  return (x - y).norm().item<double>() / y.norm().item<double>();
}

AdapterExtractionOptions Options(const std::string& tuned,
                                 const std::string& out) {
  AdapterExtractionOptions options;
  options.base_dir = FixtureDir("llama-gqa/model");
  options.tuned_dir = tuned;
  options.out_dir = out;
  options.targets = {"q", "v"};
  return options;
}

TEST(AdapterExtractionTest, RecoversALowRankUpdate) {
  loraplex::testing::TempDir tuned, out;
  const Updates updates = RankTwoUpdates();
  WriteTunedModel(tuned.path(), updates);
  AdapterExtractionOptions options = Options(tuned.path(), out.path());
  options.rank = 2;
  absl::StatusOr<AdapterExtractionReport> report = ExtractLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->modules.size(), 4u);
  EXPECT_EQ(report->max_rank, 2);
  EXPECT_LT(report->relative_error, 1e-5);
  EXPECT_TRUE(report->changed_untargeted.empty());
  const Updates extracted = FixtureAdapterUpdates(out.path());
  ASSERT_EQ(extracted.size(), 4u);
  for (const auto& [where, delta] : updates) {
    EXPECT_LT(
        RelativeDifference(extracted.at(where), StoredUpdate(updates, where)),
        1e-5);
  }
}

TEST(AdapterExtractionTest, RankOneIsTheBestApproximation) {
  loraplex::testing::TempDir tuned, out;
  const Updates updates = RankTwoUpdates();
  WriteTunedModel(tuned.path(), updates);
  AdapterExtractionOptions options = Options(tuned.path(), out.path());
  options.rank = 1;
  absl::StatusOr<AdapterExtractionReport> report = ExtractLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  const Updates extracted = FixtureAdapterUpdates(out.path());
  for (const ModuleExtraction& m : report->modules) {
    SCOPED_TRACE(absl::StrCat(m.layer, " ", m.module));
    const std::pair<int64_t, LinearKind> where{m.layer,
                                               *LinearKindFromName(m.module)};
    const torch::Tensor stored = StoredUpdate(updates, where);
    const auto [u, s, vh] = torch::linalg_svd(stored, false);
    const torch::Tensor best =
        s[0].item<double>() * u.slice(1, 0, 1).mm(vh.slice(0, 0, 1));
    EXPECT_LT(RelativeDifference(extracted.at(where), best), 1e-5);
    const double expected_error =
        std::sqrt(s.slice(0, 1).pow(2).sum().item<double>() /
                  s.pow(2).sum().item<double>());
    EXPECT_NEAR(m.relative_error, expected_error, 1e-5);
    EXPECT_FALSE(m.randomized);
  }
}

TEST(AdapterExtractionTest, RandomizedSvdFindsTheSameUpdate) {
  loraplex::testing::TempDir tuned, out;
  const Updates updates = RankTwoUpdates();
  WriteTunedModel(tuned.path(), updates);
  AdapterExtractionOptions options = Options(tuned.path(), out.path());
  options.rank = 2;
  options.svd = SvdMethod::kRandomized;
  absl::StatusOr<AdapterExtractionReport> report = ExtractLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_LT(report->relative_error, 1e-5);
  for (const ModuleExtraction& m : report->modules) EXPECT_TRUE(m.randomized);
}

TEST(AdapterExtractionTest, EnergyOneKeepsEveryNonZeroDirection) {
  loraplex::testing::TempDir tuned, out;
  WriteTunedModel(tuned.path(), RankTwoUpdates());
  AdapterExtractionOptions options = Options(tuned.path(), out.path());
  options.energy = 0.999;
  absl::StatusOr<AdapterExtractionReport> report = ExtractLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  // float32 rounding of the tuned weights adds tiny singular values beyond
  // the second, far below 0.1 % of the energy.
  for (const ModuleExtraction& m : report->modules) EXPECT_EQ(m.rank, 2);
}

TEST(AdapterExtractionTest, ReportsChangesTheAdapterCannotCarry) {
  loraplex::testing::TempDir tuned, out;
  Updates updates = RankTwoUpdates();
  updates[{0, LinearKind::kK}] = 0.01 * torch::ones({32, 64});
  WriteTunedModel(tuned.path(), updates, {{"model.norm.weight", 0.5f}});
  AdapterExtractionOptions options = Options(tuned.path(), out.path());
  options.rank = 2;
  absl::StatusOr<AdapterExtractionReport> report = ExtractLoraAdapter(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(
      report->changed_untargeted,
      UnorderedElementsAre(
          Pair("model.layers.0.self_attn.k_proj.weight", ::testing::Gt(0)),
          Pair("model.norm.weight", ::testing::Gt(0))));
}

TEST(AdapterExtractionTest, RefusesModelsThatDiffer) {
  loraplex::testing::TempDir tuned, out;
  WriteTunedModel(tuned.path(), RankTwoUpdates());
  nlohmann::json config =
      nlohmann::json::parse(testing::ReadFile(tuned.path() + "/config.json"));
  config["intermediate_size"] = 128;
  testing::WriteFile(tuned.path() + "/config.json", config.dump());
  AdapterExtractionOptions options = Options(tuned.path(), out.path());
  options.rank = 2;
  const absl::Status status = ExtractLoraAdapter(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("intermediate_size"));

  options.tuned_dir = FixtureDir("llama-gqa/model");
  options.rank = 0;
  options.energy = 0.9;
  options.svd = SvdMethod::kRandomized;
  EXPECT_EQ(ExtractLoraAdapter(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.svd = SvdMethod::kAuto;
  options.targets = {"x_proj"};
  EXPECT_EQ(ExtractLoraAdapter(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loraplex::engine
