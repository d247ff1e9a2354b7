// Note [LoRA update bound]: adapters whose values would overflow the
// forward pass are refused at open (and so at upload), naming the module
// and the rule; every reference and demo adapter is accepted.
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/lora/lora_adapter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/lora/lora_test_util.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::TempDir;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr LinearKind kQ = LinearKind::kQ;
constexpr LinearKind kK = LinearKind::kK;
constexpr LinearKind kV = LinearKind::kV;

ModelConfig FixtureModel() {
  absl::StatusOr<ModelConfig> config =
      LoadModelConfig(FixtureDir("llama-gqa/model"));
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : ModelConfig{};
}

// An adapter on q/k/v of both layers of llama-gqa, rank 8; `a_value` and
// `b_value` fill k_proj's and v_proj's tensors, the others hold 0.01/-0.02.
class LoraValueChecksTest : public ::testing::Test {
 protected:
  LoraValueChecksTest() : model_(FixtureModel()) {}

  void Write(const json& config, float a_value, float b_value) {
    SafetensorsWriter writer;
    for (int64_t layer : {0, 1}) {
      AddModule(writer, model_, layer, kQ, 8);
      for (LinearKind kind : {kK, kV}) {
        const LinearShape shape = LinearShapeOf(model_, kind);
        AddFilled(writer, LoraWeightKeyName(layer, kind, /*is_a=*/true),
                  {8, shape.in_features}, a_value);
        AddFilled(writer, LoraWeightKeyName(layer, kind, /*is_a=*/false),
                  {shape.out_features, 8}, b_value);
      }
    }
    WriteAdapter(dir_.path(), config, writer);
  }

  static json Config(double lora_alpha = 16) {
    json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
    config["target_modules"] = {"q_proj", "k_proj", "v_proj"};
    config["lora_alpha"] = lora_alpha;
    return config;
  }

  absl::StatusOr<std::unique_ptr<LoraAdapterFiles>> Open(
      const LoraValidationOptions& options = {}) {
    return LoraAdapterFiles::Open(dir_.path(), model_, options);
  }

  void ExpectRefused(std::string_view substring,
                     const LoraValidationOptions& options = {}) {
    auto files = Open(options);
    ASSERT_FALSE(files.ok());
    EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(MessageOf(files.status()), HasSubstr(substring));
  }

  ModelConfig model_;
  TempDir dir_;
};

TEST_F(LoraValueChecksTest, OrdinaryWeightsAreAccepted) {
  Write(Config(), 0.01f, -0.02f);
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->modules().size(), 6u);
}

TEST_F(LoraValueChecksTest, HugeFiniteWeightsAreRefused) {
  // The probe: 1e19 on k_proj/v_proj. Finite, but B * A overflows.
  Write(Config(), 1e19f, 1e19f);
  ExpectRefused(
      "model.layers.0.self_attn.k_proj: the LoRA update's size, scale x "
      "||lora_B||_F x ||lora_A||_F = ");
  ExpectRefused("exceeds this server's limit of 1e+04");
}

TEST_F(LoraValueChecksTest, HugeBWithTinyAIsRefusedForOverflowingScaledB) {
  // The bound is small (A is tiny) but scale * B is not finite in float32.
  Write(Config(), 1e-30f, 3e38f);
  ExpectRefused(
      "model.layers.0.self_attn.k_proj: scale x lora_B reaches 6e+38, which "
      "is not finite in float32");
}

TEST_F(LoraValueChecksTest, HugeLoraAlphaIsRefused) {
  Write(Config(/*lora_alpha=*/1e300), 0.01f, -0.02f);
  ExpectRefused(
      "model.layers.0.self_attn.q_proj: scale 1.25e+299 (lora_alpha 1e+300 / "
      "r 8) is not finite in float32");
  json rslora = Config(/*lora_alpha=*/1e300);
  rslora["use_rslora"] = true;
  Write(rslora, 0.01f, -0.02f);
  ExpectRefused("(lora_alpha 1e+300 / sqrt(r 8)) is not finite in float32");
}

TEST_F(LoraValueChecksTest, AlphaPatternIsChecked) {
  json config = Config();
  config["alpha_pattern"] = {{"v_proj", 1e40}};
  Write(config, 0.01f, -0.02f);
  ExpectRefused("model.layers.0.self_attn.v_proj: scale 1.25e+39");
}

TEST_F(LoraValueChecksTest, NonFiniteValuesAreRefused) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Write(Config(), bad, 0.5f);
    ExpectRefused(
        "tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A."
        "weight' contains NaN or Inf");
    Write(Config(), 0.5f, bad);
    ExpectRefused(
        "tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_B."
        "weight' contains NaN or Inf");
  }
}

TEST_F(LoraValueChecksTest, LimitIsConfigurableAndInclusive) {
  // k/v: A 8x64 of 0.5 (||A|| = 0.5 * sqrt(512)), B 32x8 of 0.5
  // (||B|| = 0.5 * 16), scale 2: bound = 2 * 8 * 11.3137 = 181.02.
  Write(Config(), 0.5f, 0.5f);
  LoraValidationOptions options;
  options.max_update_norm = 181.0;
  ExpectRefused("= 181, exceeds this server's limit of 181", options);
  options.max_update_norm = 181.1;
  EXPECT_TRUE(Open(options).ok());
  // check_finite = false reads no value at all.
  options.max_update_norm = 1;
  options.check_finite = false;
  EXPECT_TRUE(Open(options).ok());
}

TEST(LoraUpdateBoundTest, EveryReferenceAndDemoAdapterIsAccepted) {
  const std::string data = LORAPLEX_TEST_DATA_DIR;
  struct Case {
    std::string model_dir;
    std::string adapters_dir;
  };
  const std::vector<Case> cases = {
      {data + "/fixtures/hf-dev/llama-gqa/model",
       data + "/fixtures/hf-dev/llama-gqa/adapters"},
      {data + "/fixtures/hf-dev/qwen2-bias/model",
       data + "/fixtures/hf-dev/qwen2-bias/adapters"},
      {data + "/../../models/demo", data + "/../../models/demo/adapters"},
  };
  int opened = 0;
  for (const Case& c : cases) {
    absl::StatusOr<ModelConfig> model = LoadModelConfig(c.model_dir);
    ASSERT_TRUE(model.ok()) << model.status();
    for (const auto& entry :
         std::filesystem::directory_iterator(c.adapters_dir)) {
      auto files = LoraAdapterFiles::Open(entry.path().string(), *model);
      EXPECT_TRUE(files.ok()) << files.status();
      ++opened;
    }
  }
  EXPECT_EQ(opened, 7);  // 3 + 1 fixtures, 3 demo adapters.
}

}  // namespace
}  // namespace loraplex::engine
