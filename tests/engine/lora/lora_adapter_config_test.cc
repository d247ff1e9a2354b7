// ParseLoraAdapterConfig and ResolveLoraModule (PEFT's matching rules).
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "engine/lora/lora_adapter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/lora/lora_test_util.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

json QvConfig() { return FixtureAdapterConfig("llama-gqa", "qv-r8"); }

absl::StatusOr<LoraAdapterConfig> Parse(const json& config) {
  return ParseLoraAdapterConfig(config.dump());
}

void ExpectRefused(const json& config, std::string_view substring) {
  absl::StatusOr<LoraAdapterConfig> parsed = Parse(config);
  ASSERT_FALSE(parsed.ok()) << config.dump();
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(parsed.status()), HasSubstr(substring));
}

LoraModuleSpec Resolve(const json& config, int64_t layer, LinearKind kind) {
  absl::StatusOr<LoraAdapterConfig> parsed = Parse(config);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? ResolveLoraModule(*parsed, layer, kind)
                     : LoraModuleSpec{};
}

TEST(ParseLoraAdapterConfigTest, ReadsFixtureConfig) {
  absl::StatusOr<LoraAdapterConfig> c = Parse(QvConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->r, 8);
  EXPECT_DOUBLE_EQ(c->lora_alpha, 16);
  EXPECT_FALSE(c->use_rslora);
  EXPECT_THAT(c->target_modules_list, ElementsAre("q_proj", "v_proj"));
  EXPECT_FALSE(c->target_modules_regex.has_value());
  EXPECT_FALSE(c->layers_to_transform.has_value());
  EXPECT_TRUE(c->rank_pattern.empty());
  EXPECT_EQ(c->base_model_name_or_path, "");
}

TEST(ParseLoraAdapterConfigTest, RequiresPositiveIntegerRank) {
  json config = QvConfig();
  config.erase("r");
  ExpectRefused(config, "adapter_config.json: missing 'r'");
  config["r"] = 0;
  ExpectRefused(config, "'r' must be an integer in [1,");
  config["r"] = "8";
  ExpectRefused(config, "'r' must be an integer");
}

TEST(ParseLoraAdapterConfigTest, AlphaDefaultsToEightLikePeft) {
  json config = QvConfig();
  config.erase("lora_alpha");
  absl::StatusOr<LoraAdapterConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->lora_alpha, 8);
  EXPECT_DOUBLE_EQ(ResolveLoraModule(*c, 0, LinearKind::kQ).scale, 1.0);
  config["lora_alpha"] = "16";
  ExpectRefused(config, "'lora_alpha' must be a number");
}

TEST(ParseLoraAdapterConfigTest, RefusesOtherPeftTypes) {
  json config = QvConfig();
  config["peft_type"] = "LOHA";
  ExpectRefused(config, "peft_type 'LOHA' is not supported; supported: LORA");
  config.erase("peft_type");
  EXPECT_TRUE(Parse(config).ok());
}

TEST(ParseLoraAdapterConfigTest, RefusesFeaturesThatChangeTheMath) {
  const struct {
    const char* key;
    json value;
    const char* message;
  } cases[] = {
      {"bias", "all", "bias 'all' is not supported; supported: none"},
      {"bias", "lora_only", "bias 'lora_only' is not supported"},
      {"use_dora", true, "DoRA (use_dora: true) is not supported"},
      {"lora_bias", true, "LoRA bias terms (lora_bias: true) is not supported"},
      {"use_qalora", true, "QALoRA (use_qalora: true) is not supported"},
      {"modules_to_save", {"lm_head"}, "'modules_to_save' is not supported"},
      {"layer_replication",
       {{0, 2}, {1, 2}},
       "'layer_replication' is not supported"},
      {"target_parameters",
       {"mlp.experts.down_proj"},
       "'target_parameters' is not supported"},
      {"trainable_token_indices",
       {1, 2},
       "'trainable_token_indices' is not supported"},
      {"alora_invocation_tokens",
       {5, 6},
       "'alora_invocation_tokens' is not supported"},
      {"megatron_config",
       {{"tensor_model_parallel_size", 2}},
       "'megatron_config' is not supported"},
      {"use_bdlora", {{"nblocks", 2}}, "'use_bdlora' is not supported"},
      {"arrow_config", {{"top_k", 2}}, "'arrow_config' is not supported"},
      {"kasa_config", {{"beta", 0.1}}, "'kasa_config' is not supported"},
      {"monteclora_config",
       {{"num_samples", 4}},
       "'monteclora_config' is not supported"},
      {"layers_pattern", "h", "layers_pattern \"h\" is not supported"},
      {"layers_pattern",
       {"blocks"},
       "layers_pattern [\"blocks\"] is not supported"},
      {"use_dora", "no", "'use_dora' must be true or false"},
  };
  for (const auto& c : cases) {
    json config = QvConfig();
    config[c.key] = c.value;
    ExpectRefused(config, c.message);
  }
}

TEST(ParseLoraAdapterConfigTest, AcceptsHarmlessSettings) {
  json config = QvConfig();
  config["modules_to_save"] = json::array();
  config["layers_pattern"] = "layers";
  config["loftq_config"] = json::object();
  config["lora_dropout"] = 0.1;
  config["task_type"] = "CAUSAL_LM";
  config["fan_in_fan_out"] = false;
  EXPECT_TRUE(Parse(config).ok());
  config["layers_pattern"] = {"layers"};
  EXPECT_TRUE(Parse(config).ok());
}

TEST(ParseLoraAdapterConfigTest, RefusesTargetsThatAreNotLinearLayers) {
  for (const char* target :
       {"lm_head", "embed_tokens", "model.embed_tokens", "mlp"}) {
    json config = QvConfig();
    config["target_modules"] = {"q_proj", target};
    ExpectRefused(config,
                  std::string("target module '") + target +
                      "' is not supported; LoRA targets: q_proj, k_proj, "
                      "v_proj, o_proj, gate_proj, up_proj, down_proj");
  }
  json config = QvConfig();
  config["target_modules"] = json::array();
  ExpectRefused(config, "'target_modules' is empty");
  config["target_modules"] = 7;
  ExpectRefused(config, "'target_modules' must be a list or a string");
}

TEST(ParseLoraAdapterConfigTest, RefusesRegexTargetingEmbeddingsOrHead) {
  json config = QvConfig();
  config["target_modules"] = ".*";
  ExpectRefused(config, "target_modules regex '.*' matches 'lm_head'");
  config["target_modules"] = ".*(embed_tokens|q_proj)";
  ExpectRefused(config, "matches 'model.embed_tokens'");
}

TEST(ParseLoraAdapterConfigTest, RefusesRegexRe2CannotCompile) {
  json config = QvConfig();
  config["target_modules"] = "(?<=self_attn\\.)q_proj";
  ExpectRefused(config,
                "target_modules pattern '(?<=self_attn\\.)q_proj' is not "
                "a regex Loraplex (RE2) accepts");
  config = QvConfig();
  config["rank_pattern"] = {{"q_proj(?!x)", 4}};
  ExpectRefused(config, "rank_pattern pattern 'q_proj(?!x)' is not a regex");
}

TEST(ParseLoraAdapterConfigTest, RefusesOversizedOrDeeplyNestedConfigs) {
  // Note [Bounded JSON]: 1 MiB and 64 levels (kConfigJsonLimits).
  json config = QvConfig();
  config["padding"] = std::string(1 << 20, 'x');
  ExpectRefused(config, " bytes, over the limit of 1048576 bytes");
  absl::StatusOr<LoraAdapterConfig> c =
      ParseLoraAdapterConfig(std::string(1000, '[') + std::string(1000, ']'));
  EXPECT_EQ(MessageOf(c.status()),
            "adapter_config.json: nests arrays and objects deeper than the "
            "limit of 64 levels");
  const std::string text = QvConfig().dump();
  c = ParseLoraAdapterConfig(text.substr(0, text.size() - 1) + R"(,"r": 4})");
  EXPECT_EQ(MessageOf(c.status()), "adapter_config.json: repeats the key 'r'");
}

TEST(ParseLoraAdapterConfigTest, RefusesMalformedJsonAndFields) {
  absl::StatusOr<LoraAdapterConfig> c = ParseLoraAdapterConfig("{\"r\": 8,");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(c.status()),
            "adapter_config.json: not valid JSON (syntax error at byte 8)");
  json config = QvConfig();
  config["layers_to_transform"] = "0";
  ExpectRefused(config, "'layers_to_transform' must be a layer index");
  config["layers_to_transform"] = {0, -1};
  ExpectRefused(config, "'layers_to_transform' must be a layer index");
  config = QvConfig();
  config["rank_pattern"] = {{"q_proj", 0}};
  ExpectRefused(config, "rank_pattern['q_proj'] must be a positive integer");
  config["rank_pattern"] = json::array();
  ExpectRefused(config, "'rank_pattern' must be an object");
  config = QvConfig();
  config["alpha_pattern"] = {{"q_proj", "big"}};
  ExpectRefused(config, "alpha_pattern['q_proj'] must be a number");
}

// ---- ResolveLoraModule ------------------------------------------------------

TEST(ResolveLoraModuleTest, ListTargetsAreNameSuffixes) {
  json config = QvConfig();
  EXPECT_TRUE(Resolve(config, 1, LinearKind::kQ).targeted);
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kV).targeted);
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kK).targeted);
  config["target_modules"] = {"self_attn.q_proj"};
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kQ).targeted);
  config["target_modules"] = {"attn.q_proj"};  // Not a whole dotted suffix.
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kQ).targeted);
}

TEST(ResolveLoraModuleTest, ScaleIsAlphaOverRankOrOverSqrtRank) {
  json config = QvConfig();
  const LoraModuleSpec plain = Resolve(config, 0, LinearKind::kQ);
  EXPECT_EQ(plain.rank, 8);
  EXPECT_DOUBLE_EQ(plain.alpha, 16);
  EXPECT_DOUBLE_EQ(plain.scale, 2.0);
  config["use_rslora"] = true;
  EXPECT_DOUBLE_EQ(Resolve(config, 0, LinearKind::kQ).scale,
                   16 / std::sqrt(8.0));
}

TEST(ResolveLoraModuleTest, RegexMustMatchTheWholeName) {
  json config = QvConfig();
  config["target_modules"] = "model\\.layers\\.0\\.self_attn\\.(q|v)_proj";
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kQ).targeted);
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kV).targeted);
  EXPECT_FALSE(Resolve(config, 1, LinearKind::kQ).targeted);
  config["target_modules"] = "q_proj";  // A regex: must match all of the name.
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kQ).targeted);
}

TEST(ResolveLoraModuleTest, AllLinearMeansTheSevenKinds) {
  for (const char* spelling : {"all-linear", "ALL-LINEAR"}) {
    json config = QvConfig();
    config["target_modules"] = spelling;
    for (int k = 0; k < kNumLinearKinds; ++k) {
      EXPECT_TRUE(Resolve(config, 1, static_cast<LinearKind>(k)).targeted)
          << spelling;
    }
  }
}

TEST(ResolveLoraModuleTest, MissingTargetsDefaultToQAndV) {
  json config = QvConfig();
  config.erase("target_modules");
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kQ).targeted);
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kV).targeted);
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kO).targeted);
}

TEST(ResolveLoraModuleTest, LayersToTransformFiltersListTargets) {
  json config = QvConfig();
  config["layers_to_transform"] = 1;
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kQ).targeted);
  EXPECT_TRUE(Resolve(config, 1, LinearKind::kQ).targeted);
  config["layers_to_transform"] = {0, 3};
  EXPECT_TRUE(Resolve(config, 0, LinearKind::kV).targeted);
  EXPECT_FALSE(Resolve(config, 1, LinearKind::kV).targeted);
  EXPECT_TRUE(Resolve(config, 3, LinearKind::kV).targeted);
  // As in PEFT: a whole-name entry ignores the filter, and so does a regex.
  config["target_modules"] = {"model.layers.1.self_attn.q_proj"};
  EXPECT_TRUE(Resolve(config, 1, LinearKind::kQ).targeted);
  config["target_modules"] = ".*\\.q_proj";
  EXPECT_TRUE(Resolve(config, 1, LinearKind::kQ).targeted);
}

TEST(ResolveLoraModuleTest, ExcludeModulesWins) {
  json config = QvConfig();
  config["target_modules"] = "all-linear";
  config["exclude_modules"] = {"v_proj", "mlp.down_proj"};
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kV).targeted);
  EXPECT_FALSE(Resolve(config, 1, LinearKind::kDown).targeted);
  EXPECT_TRUE(Resolve(config, 1, LinearKind::kUp).targeted);
  config["exclude_modules"] = "model\\.layers\\.0\\..*";
  EXPECT_FALSE(Resolve(config, 0, LinearKind::kQ).targeted);
  EXPECT_TRUE(Resolve(config, 1, LinearKind::kQ).targeted);
}

TEST(ResolveLoraModuleTest, RankAndAlphaPatternsPerModule) {
  json config = QvConfig();  // r 8, alpha 16
  config["target_modules"] = "all-linear";
  config["rank_pattern"] = {{"v_proj", 4}, {"layers.1.self_attn.q_proj", 2}};
  config["alpha_pattern"] = {{"model.layers.0.mlp.(gate|up)_proj", 64}};
  const LoraModuleSpec v = Resolve(config, 0, LinearKind::kV);
  EXPECT_EQ(v.rank, 4);
  EXPECT_DOUBLE_EQ(v.scale, 4.0);  // 16 / 4
  EXPECT_EQ(Resolve(config, 1, LinearKind::kQ).rank, 2);
  EXPECT_EQ(Resolve(config, 0, LinearKind::kQ).rank, 8);
  const LoraModuleSpec gate = Resolve(config, 0, LinearKind::kGate);
  EXPECT_EQ(gate.rank, 8);
  EXPECT_DOUBLE_EQ(gate.alpha, 64);
  EXPECT_DOUBLE_EQ(gate.scale, 8.0);
  EXPECT_DOUBLE_EQ(Resolve(config, 1, LinearKind::kGate).alpha, 16);
}

// PEFT takes the first matching key in the file's order, which need not be
// sorted: here the alphabetical order would give layer 1's q_proj rank 2.
TEST(ResolveLoraModuleTest, PatternOrderIsFileOrder) {
  const std::string text =
      R"({"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"],
          "rank_pattern": {"q_proj": 6, "layers.1.self_attn.q_proj": 2}})";
  absl::StatusOr<LoraAdapterConfig> c = ParseLoraAdapterConfig(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ResolveLoraModule(*c, 1, LinearKind::kQ).rank, 6);
}

TEST(ResolveLoraModuleTest, PatternKeysMatchWholeDottedSegments) {
  json config = QvConfig();
  config["rank_pattern"] = {{"_proj", 4}, {"layers.0", 2}};
  // "(.*\.)?(_proj)" does not match "...q_proj"; "layers.0" is not a suffix.
  EXPECT_EQ(Resolve(config, 0, LinearKind::kQ).rank, 8);
}

}  // namespace
}  // namespace loraplex::engine
