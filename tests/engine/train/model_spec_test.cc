// Architecture files (small.json) and the config.json written from them,
// which the engine's own config parser must read back unchanged.
#include "engine/train/model_spec.h"

#include <string>

#include "engine/config/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::testing::HasSubstr;

constexpr char kMinimal[] =
    R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4})";

TEST(ModelSpecTest, FillsDefaultsAndTokenizerIds) {
  auto spec = ParseModelSpec(kMinimal, /*vocab_size=*/300, /*bos_id=*/0,
                             /*eos_id=*/1);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const ModelConfig& c = spec->config;
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(spec->initializer_range, 0.02);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_THAT(c.eos_token_ids, ::testing::ElementsAre(1));
}

TEST(ModelSpecTest, ConfigJsonRoundTripsThroughTheEngineParser) {
  auto spec = ParseModelSpec(
      R"({"hidden_size": 96, "intermediate_size": 200, "num_hidden_layers": 3,
          "num_attention_heads": 6, "num_key_value_heads": 2,
          "max_position_embeddings": 256, "rope_theta": 50000.0,
          "rms_norm_eps": 1e-6, "tie_word_embeddings": false})",
      512, 0, 1);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::string config_json = HfConfigJson(spec->config, 0.02);
  auto parsed =
      ParseModelConfig(config_json, HfGenerationConfigJson(spec->config));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->architecture, "LlamaForCausalLM");
  EXPECT_EQ(parsed->model_type, "llama");
  EXPECT_EQ(parsed->vocab_size, 512);
  EXPECT_EQ(parsed->hidden_size, 96);
  EXPECT_EQ(parsed->intermediate_size, 200);
  EXPECT_EQ(parsed->num_hidden_layers, 3);
  EXPECT_EQ(parsed->num_attention_heads, 6);
  EXPECT_EQ(parsed->num_key_value_heads, 2);
  EXPECT_EQ(parsed->head_dim, 16);
  EXPECT_EQ(parsed->max_position_embeddings, 256);
  EXPECT_DOUBLE_EQ(parsed->rope_theta, 50000.0);
  EXPECT_DOUBLE_EQ(parsed->rms_norm_eps, 1e-6);
  EXPECT_FALSE(parsed->tie_word_embeddings);
  EXPECT_EQ(parsed->bos_token_id, 0);
  EXPECT_THAT(parsed->eos_token_ids, ::testing::ElementsAre(1));
  // Fields transformers needs that the engine does not read.
  nlohmann::json json = nlohmann::json::parse(config_json);
  EXPECT_EQ(json["hidden_act"], "silu");
  EXPECT_EQ(json["torch_dtype"], "float32");
  EXPECT_EQ(json["dtype"], "float32");
  EXPECT_EQ(json["architectures"][0], "LlamaForCausalLM");
}

struct BadSpec {
  const char* json;
  const char* message;
};

class BadModelSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadModelSpecTest, IsRefusedWithTheFieldNamed) {
  auto spec = ParseModelSpec(GetParam().json, 300, 0, 1);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(spec.status()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, BadModelSpecTest,
    ::testing::Values(
        BadSpec{"{not json", "not valid JSON"},
        BadSpec{"[1, 2]", "expected a JSON object"},
        BadSpec{R"({"hiden_size": 64})", "unknown field 'hiden_size'"},
        BadSpec{R"({"intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4})",
                "missing required field 'hidden_size'"},
        BadSpec{R"({"hidden_size": -64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4})",
                "'hidden_size' must be a positive integer"},
        BadSpec{R"({"hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4,
                    "vocab_size": 500})",
                "differs from the tokenizer's 300"},
        BadSpec{R"({"hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4,
                    "num_key_value_heads": 3})",
                "must be a multiple of num_key_value_heads"},
        BadSpec{R"({"hidden_size": 60, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 8})",
                "give head_dim explicitly"},
        BadSpec{R"({"hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4,
                    "head_dim": 15})",
                "must be even"},
        BadSpec{R"({"hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4,
                    "rope_theta": 0})",
                "'rope_theta' must be a positive number"},
        BadSpec{R"({"hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4,
                    "tie_word_embeddings": "yes"})",
                "'tie_word_embeddings' must be true or false"}));

}  // namespace
}  // namespace loraplex::engine
