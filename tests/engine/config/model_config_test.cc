#include "engine/config/model_config.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using json = nlohmann::json;

std::string FixtureModelDir(const std::string& name) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/hf-dev/" + name +
         "/model";
}

// A small valid Llama config that tests modify.
json BaseConfig() {
  return json{{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"vocab_size", 1000},
              {"hidden_size", 128},
              {"intermediate_size", 256},
              {"num_hidden_layers", 3},
              {"num_attention_heads", 8},
              {"num_key_value_heads", 4},
              {"hidden_act", "silu"},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 10000.0}};
}

absl::StatusOr<ModelConfig> Parse(const json& config,
                                  const std::string& generation = "") {
  return ParseModelConfig(config.dump(), generation);
}

void ExpectRefused(const json& config, std::string_view substring,
                   const std::string& generation = "") {
  absl::StatusOr<ModelConfig> parsed = Parse(config, generation);
  ASSERT_FALSE(parsed.ok()) << config.dump();
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(parsed.status()), HasSubstr(substring));
}

// ---- Reference fixtures -------------------------------------------------

TEST(ModelConfigFixtureTest, LlamaGqa) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(FixtureModelDir("llama-gqa"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 160);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->max_position_embeddings, 256);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_FALSE(c->sliding_window.has_value());
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
  EXPECT_FALSE(c->pad_token_id.has_value());
  EXPECT_EQ(c->torch_dtype, "float32");
}

TEST(ModelConfigFixtureTest, Qwen2Bias) {
  absl::StatusOr<ModelConfig> c =
      LoadModelConfig(FixtureModelDir("qwen2-bias"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->intermediate_size, 128);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_FALSE(c->sliding_window.has_value());
  EXPECT_FALSE(c->bos_token_id.has_value());
  EXPECT_THAT(c->eos_token_ids, IsEmpty());
}

TEST(ModelConfigFixtureTest, LinearShapesOfLlamaGqa) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(FixtureModelDir("llama-gqa"));
  ASSERT_TRUE(c.ok()) << c.status();
  const auto shape = [&](LinearKind kind) {
    const LinearShape s = LinearShapeOf(*c, kind);
    return std::make_pair(s.in_features, s.out_features);
  };
  EXPECT_EQ(shape(LinearKind::kQ), std::make_pair(int64_t{64}, int64_t{64}));
  EXPECT_EQ(shape(LinearKind::kK), std::make_pair(int64_t{64}, int64_t{32}));
  EXPECT_EQ(shape(LinearKind::kV), std::make_pair(int64_t{64}, int64_t{32}));
  EXPECT_EQ(shape(LinearKind::kO), std::make_pair(int64_t{64}, int64_t{64}));
  EXPECT_EQ(shape(LinearKind::kGate),
            std::make_pair(int64_t{64}, int64_t{160}));
  EXPECT_EQ(shape(LinearKind::kUp), std::make_pair(int64_t{64}, int64_t{160}));
  EXPECT_EQ(shape(LinearKind::kDown),
            std::make_pair(int64_t{160}, int64_t{64}));
}

TEST(LinearKindTest, NamesParentsAndParsing) {
  const char* names[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                         "gate_proj", "up_proj", "down_proj"};
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearKind kind = static_cast<LinearKind>(k);
    EXPECT_STREQ(LinearKindName(kind), names[k]);
    EXPECT_STREQ(LinearKindParent(kind), k < 4 ? "self_attn" : "mlp");
    EXPECT_EQ(LinearKindFromName(names[k]), kind);
  }
  EXPECT_FALSE(LinearKindFromName("lm_head").has_value());
  EXPECT_FALSE(LinearKindFromName("").has_value());
}

// ---- Attention shapes -----------------------------------------------------

TEST(ModelConfigTest, MultiHeadAttentionWhenKvHeadsAbsent) {
  json config = BaseConfig();
  config.erase("num_key_value_heads");
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(LinearShapeOf(*c, LinearKind::kK).out_features, 128);
}

TEST(ModelConfigTest, MultiQueryAttention) {
  json config = BaseConfig();
  config["num_key_value_heads"] = 1;
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(LinearShapeOf(*c, LinearKind::kV).out_features, 16);
}

TEST(ModelConfigTest, ExplicitHeadDimNeedNotDivideHidden) {
  json config = BaseConfig();
  config["num_attention_heads"] = 6;
  config["num_key_value_heads"] = 2;
  config["head_dim"] = 32;
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(LinearShapeOf(*c, LinearKind::kQ).out_features, 192);
  EXPECT_EQ(LinearShapeOf(*c, LinearKind::kO).in_features, 192);
  EXPECT_EQ(LinearShapeOf(*c, LinearKind::kO).out_features, 128);
}

TEST(ModelConfigTest, RefusesBadHeadCounts) {
  json config = BaseConfig();
  config["num_key_value_heads"] = 3;
  ExpectRefused(config,
                "num_attention_heads (8) must be a multiple of "
                "num_key_value_heads (3)");
  config = BaseConfig();
  config["num_attention_heads"] = 6;
  config["num_key_value_heads"] = 6;
  ExpectRefused(config,
                "hidden_size (128) is not a multiple of "
                "num_attention_heads (6) and no head_dim is given");
  config = BaseConfig();
  config["head_dim"] = 15;
  ExpectRefused(config, "head_dim (15) must be even");
}

TEST(ModelConfigTest, RefusesMissingOrInvalidSizes) {
  json config = BaseConfig();
  config.erase("vocab_size");
  ExpectRefused(config, "config.json: missing 'vocab_size'");
  config = BaseConfig();
  config["hidden_size"] = 0;
  ExpectRefused(config,
                "'hidden_size' must be an integer in [1, 2147483647] (got 0)");
  config = BaseConfig();
  config["num_hidden_layers"] = "3";
  ExpectRefused(config, "'num_hidden_layers' must be an integer");
  config = BaseConfig();
  config["intermediate_size"] = 256.5;
  ExpectRefused(config, "'intermediate_size' must be an integer");
  config = BaseConfig();
  config["rms_norm_eps"] = "small";
  ExpectRefused(config, "'rms_norm_eps' must be a number");
}

TEST(ModelConfigTest, DefaultMaxPositionsFollowTransformers) {
  json config = BaseConfig();
  EXPECT_EQ(Parse(config)->max_position_embeddings, 2048);
  config["architectures"] = {"MistralForCausalLM"};
  config["model_type"] = "mistral";
  EXPECT_EQ(Parse(config)->max_position_embeddings, 131072);
  config["architectures"] = {"Qwen2ForCausalLM"};
  config["model_type"] = "qwen2";
  EXPECT_EQ(Parse(config)->max_position_embeddings, 32768);
}

// ---- Architectures ----------------------------------------------------------

TEST(ModelConfigTest, RefusesUnsupportedArchitectureByName) {
  json config = BaseConfig();
  config["architectures"] = {"GPT2LMHeadModel"};
  config.erase("model_type");
  ExpectRefused(
      config,
      "config.json: architecture GPT2LMHeadModel is not supported; "
      "supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
}

TEST(ModelConfigTest, ModelTypeAloneNamesTheArchitecture) {
  json config = BaseConfig();
  config.erase("architectures");
  config["model_type"] = "mistral";
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "MistralForCausalLM");
  config["model_type"] = "gpt2";
  ExpectRefused(config,
                "model_type 'gpt2' is not supported; supported: llama, "
                "mistral, qwen2");
  config.erase("model_type");
  ExpectRefused(config, "names no architecture");
}

TEST(ModelConfigTest, RefusesArchitectureAndModelTypeThatDisagree) {
  json config = BaseConfig();
  config["model_type"] = "qwen2";
  ExpectRefused(config,
                "model_type 'qwen2' does not match architecture "
                "LlamaForCausalLM");
  config = BaseConfig();
  config["architectures"] = json::array();
  ExpectRefused(config, "'architectures' must be a non-empty list of strings");
}

TEST(ModelConfigTest, RefusesQuantizedCheckpoints) {
  json config = BaseConfig();
  config["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}};
  ExpectRefused(config,
                "quantized checkpoints (quantization_config with "
                "quant_method \"gptq\") are not supported");
}

TEST(ModelConfigTest, RefusesActivationOtherThanSilu) {
  json config = BaseConfig();
  config["hidden_act"] = "gelu";
  ExpectRefused(config, "hidden_act 'gelu' is not supported; supported: silu");
}

TEST(ModelConfigTest, RefusesPartialRotaryFactor) {
  json config = BaseConfig();
  config["partial_rotary_factor"] = 0.5;
  ExpectRefused(config, "partial_rotary_factor other than 1 is not supported");
}

TEST(ModelConfigTest, RefusesMalformedJson) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig("{\"vocab_size\": ", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(c.status()),
            "config.json: not valid JSON (syntax error at byte 15)");
  c = ParseModelConfig("[1, 2]", "");
  EXPECT_EQ(MessageOf(c.status()), "config.json: not a JSON object");
  ExpectRefused(BaseConfig(), "generation_config.json: not valid JSON",
                "{oops");
}

// ---- Biases, tying, sliding window ----------------------------------------

TEST(ModelConfigTest, LlamaBiasesFollowTheirFlags) {
  json config = BaseConfig();
  config["attention_bias"] = true;
  config["mlp_bias"] = true;
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->o_bias);
  EXPECT_TRUE(c->mlp_bias);
  config["attention_bias"] = "yes";
  ExpectRefused(config, "'attention_bias' must be true or false");
}

TEST(ModelConfigTest, TieWordEmbeddingsDefaultsToFalse) {
  json config = BaseConfig();
  EXPECT_FALSE(Parse(config)->tie_word_embeddings);
  config["tie_word_embeddings"] = true;
  EXPECT_TRUE(Parse(config)->tie_word_embeddings);
}

TEST(ModelConfigTest, MistralSlidingWindow) {
  json config = BaseConfig();
  config["architectures"] = {"MistralForCausalLM"};
  config["model_type"] = "mistral";
  config["sliding_window"] = 4096;
  config["attention_bias"] = true;  // Not a Mistral field: ignored.
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_FALSE(c->qkv_bias);
  config["sliding_window"] = nullptr;
  EXPECT_FALSE(Parse(config)->sliding_window.has_value());
  config["sliding_window"] = -1;
  ExpectRefused(config, "'sliding_window' must be an integer in [1,");
}

TEST(ModelConfigTest, Qwen2SlidingWindowIsRefusedOnlyWhenUsed) {
  json config = BaseConfig();
  config["architectures"] = {"Qwen2ForCausalLM"};
  config["model_type"] = "qwen2";
  config["sliding_window"] = 4096;
  config["use_sliding_window"] = false;
  config["layer_types"] = {"full_attention", "full_attention",
                           "full_attention"};
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->sliding_window.has_value());
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  config["layer_types"][2] = "sliding_attention";
  ExpectRefused(config, "layer type \"sliding_attention\" is not supported");
  config.erase("layer_types");
  config["use_sliding_window"] = true;
  ExpectRefused(config,
                "use_sliding_window: true (Qwen2 sliding-window "
                "attention) is not supported");
}

// ---- RoPE -------------------------------------------------------------------

TEST(ModelConfigTest, OldStyleRopeThetaAndLinearScaling) {
  json config = BaseConfig();
  config["rope_theta"] = 500000.0;
  config["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 4.0);
  config["rope_scaling"] = nullptr;
  EXPECT_EQ(Parse(config)->rope_scaling.type, RopeScalingType::kNone);
}

TEST(ModelConfigTest, Llama3ScalingInBothSpellings) {
  const json llama3 = {{"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  json old_style = BaseConfig();
  old_style["rope_theta"] = 500000.0;
  old_style["rope_scaling"] = llama3;
  old_style["rope_scaling"]["rope_type"] = "llama3";
  json new_style = BaseConfig();
  new_style.erase("rope_theta");
  new_style["rope_parameters"] = llama3;
  new_style["rope_parameters"]["rope_type"] = "llama3";
  new_style["rope_parameters"]["rope_theta"] = 500000.0;
  for (const json& config : {old_style, new_style}) {
    absl::StatusOr<ModelConfig> c = Parse(config);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
    EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
    EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
    EXPECT_DOUBLE_EQ(c->rope_scaling.low_freq_factor, 1.0);
    EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4.0);
    EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  }
  json missing = old_style;
  missing["rope_scaling"].erase("low_freq_factor");
  ExpectRefused(missing,
                "config.json: rope_scaling: missing 'low_freq_factor'");
  json inverted = new_style;
  inverted["rope_parameters"]["high_freq_factor"] = 0.5;
  ExpectRefused(inverted,
                "llama3 scaling needs high_freq_factor > low_freq_factor");
}

TEST(ModelConfigTest, RopeParametersWinOverTopLevelTheta) {
  json config = BaseConfig();
  config["rope_parameters"] = {{"rope_theta", 1e6}, {"rope_type", "default"}};
  EXPECT_DOUBLE_EQ(Parse(config)->rope_theta, 1e6);
}

TEST(ModelConfigTest, RefusesUnsupportedRopeTypesByName) {
  for (const char* type : {"dynamic", "yarn", "longrope", "su"}) {
    json config = BaseConfig();
    config["rope_scaling"] = {{"type", type}, {"factor", 2.0}};
    ExpectRefused(config,
                  std::string("rope_type '") + type +
                      "' is not supported; supported: default, linear, llama3");
  }
}

TEST(ModelConfigTest, RefusesMalformedRope) {
  json config = BaseConfig();
  config["rope_scaling"] = {{"type", "linear"}};
  ExpectRefused(config, "rope_scaling: missing 'factor'");
  config["rope_scaling"] = {{"type", "linear"}, {"factor", -2}};
  ExpectRefused(config, "rope_scaling: 'factor' must be positive");
  config["rope_scaling"] = "linear";
  ExpectRefused(config, "'rope_scaling' must be an object");
  config = BaseConfig();
  config["rope_theta"] = 0;
  ExpectRefused(config, "'rope_theta' must be positive");
  config = BaseConfig();
  config["rope_parameters"] = {
      {"full_attention", {{"rope_type", "default"}}},
      {"sliding_attention", {{"rope_type", "default"}}}};
  ExpectRefused(config, "RoPE parameters per layer type are not supported");
}

// ---- Special tokens
// ----------------------------------------------------------

TEST(ModelConfigTest, TokenIdsAsIntListOrNull) {
  json config = BaseConfig();
  config["bos_token_id"] = 5;
  config["eos_token_id"] = {2, 7};
  config["pad_token_id"] = nullptr;
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, 5);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2, 7));
  EXPECT_FALSE(c->pad_token_id.has_value());
  config["bos_token_id"] = {6};
  config["pad_token_id"] = 0;
  c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, 6);
  EXPECT_EQ(c->pad_token_id, 0);
}

TEST(ModelConfigTest, NegativePadIdMeansNone) {
  json config = BaseConfig();
  config["pad_token_id"] = -1;
  absl::StatusOr<ModelConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->pad_token_id.has_value());
}

TEST(ModelConfigTest, GenerationConfigOverridesEosAndBos) {
  json config = BaseConfig();
  config["bos_token_id"] = 1;
  config["eos_token_id"] = 2;
  absl::StatusOr<ModelConfig> c =
      Parse(config, R"({"bos_token_id": 3, "eos_token_id": [9, 10]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, 3);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(9, 10));
  c = Parse(config, R"({"eos_token_id": null, "temperature": 0.7})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
}

TEST(ModelConfigTest, RefusesBadTokenIds) {
  json config = BaseConfig();
  config["eos_token_id"] = 1000;
  ExpectRefused(
      config,
      "'eos_token_id' 1000 is outside the vocabulary (vocab_size 1000)");
  config["eos_token_id"] = "</s>";
  ExpectRefused(config,
                "'eos_token_id' must be a token id or a list of token ids");
  config = BaseConfig();
  config["bos_token_id"] = {1, 2};
  ExpectRefused(config, "'bos_token_id' must be a single token id");
  ExpectRefused(BaseConfig(),
                "generation_config.json: 'eos_token_id' -3 is outside",
                R"({"eos_token_id": -3})");
}

// ---- Files ------------------------------------------------------------------

TEST(LoadModelConfigTest, MissingConfigIsNotFound) {
  TempDir dir;
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(c.status()), StartsWith(dir.Join("config.json")));
}

TEST(LoadModelConfigTest, WorksWithoutGenerationConfig) {
  TempDir dir;
  json config = BaseConfig();
  config["eos_token_id"] = 4;
  WriteFile(dir.Join("config.json"), config.dump());
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.path());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(4));
}

TEST(LoadModelConfigTest, ErrorsNameTheFilePath) {
  TempDir dir;
  json config = BaseConfig();
  config["hidden_act"] = "relu";
  WriteFile(dir.Join("config.json"), config.dump());
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.path());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(c.status()),
              StartsWith(dir.Join("config.json") + ": hidden_act 'relu'"));
  WriteFile(dir.Join("config.json"), BaseConfig().dump());
  WriteFile(dir.Join("generation_config.json"), "[]");
  c = LoadModelConfig(dir.path());
  EXPECT_THAT(
      MessageOf(c.status()),
      StartsWith(dir.Join("generation_config.json") + ": not a JSON object"));
}

TEST(LoadModelConfigTest, UnreadableGenerationConfigIsAnError) {
  TempDir dir;
  WriteFile(dir.Join("config.json"), BaseConfig().dump());
  std::filesystem::create_directory(dir.Join("generation_config.json"));
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.path());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(c.status()), HasSubstr("is a directory"));
}

// ---- Bounds (Note [Bounded JSON]) -------------------------------------------

TEST(ModelConfigBoundsTest, RefusesConfigOverOneMebibyte) {
  json config = BaseConfig();
  config["padding"] = std::string(1 << 20, 'x');
  ExpectRefused(config, "config.json: ");
  ExpectRefused(config, " bytes, over the limit of 1048576 bytes");
  TempDir dir;
  WriteFile(dir.Join("config.json"), config.dump());
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.path());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(c.status()),
              HasSubstr("larger than the limit of 1048576 bytes"));
  WriteFile(dir.Join("config.json"), BaseConfig().dump());
  WriteFile(dir.Join("generation_config.json"), config.dump());
  c = LoadModelConfig(dir.path());
  EXPECT_THAT(MessageOf(c.status()),
              HasSubstr("larger than the limit of 1048576 bytes"));
}

TEST(ModelConfigBoundsTest, RefusesNestingDeeperThan64Levels) {
  const std::string deep = std::string(64, '[') + std::string(64, ']');
  absl::StatusOr<ModelConfig> c =
      ParseModelConfig(R"({"x": )" + deep + "}", "");
  EXPECT_EQ(MessageOf(c.status()),
            "config.json: nests arrays and objects deeper than the limit of "
            "64 levels");
  // A bomb of 500,000 levels is refused as quickly.
  c = ParseModelConfig(std::string(500000, '['), "");
  EXPECT_THAT(MessageOf(c.status()), HasSubstr("deeper than the limit"));
}

TEST(ModelConfigBoundsTest, RefusesRepeatedKeys) {
  const std::string text = BaseConfig().dump();
  absl::StatusOr<ModelConfig> c = ParseModelConfig(
      text.substr(0, text.size() - 1) + R"(,"vocab_size": 5})", "");
  EXPECT_EQ(MessageOf(c.status()), "config.json: repeats the key 'vocab_size'");
}

}  // namespace
}  // namespace loraplex::engine
