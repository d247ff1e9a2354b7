// LoraAdapterFiles::Open on the reference adapters and on broken ones.
#include <cmath>
#include <functional>
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

using ::loraplex::testing::CopyDirectory;
using ::loraplex::testing::MessageOf;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

constexpr LinearKind kQ = LinearKind::kQ;
constexpr LinearKind kV = LinearKind::kV;

ModelConfig LoadFixtureModel(const std::string& name) {
  absl::StatusOr<ModelConfig> config =
      LoadModelConfig(FixtureDir(name + "/model"));
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : ModelConfig{};
}

// ---- The reference adapters -----------------------------------------------

struct FixtureCase {
  std::string model;
  std::string adapter;
  int64_t num_modules;
  int64_t rank;
  double alpha;
  double scale;
  std::vector<std::string> targets;
};

class FixtureAdapterTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(FixtureAdapterTest, OpensWithExpectedModules) {
  const FixtureCase& c = GetParam();
  const ModelConfig model = LoadFixtureModel(c.model);
  auto files = LoraAdapterFiles::Open(
      FixtureDir(c.model + "/adapters/" + c.adapter), model);
  ASSERT_TRUE(files.ok()) << files.status();
  const auto& modules = (*files)->modules();
  ASSERT_EQ(static_cast<int64_t>(modules.size()), c.num_modules);
  for (size_t i = 0; i < modules.size(); ++i) {
    const LoraModuleWeights& m = modules[i];
    EXPECT_EQ(m.rank, c.rank);
    EXPECT_FLOAT_EQ(m.scale, static_cast<float>(c.scale));
    const LinearShape shape = LinearShapeOf(model, m.kind);
    EXPECT_THAT(m.lora_a->shape, ElementsAre(c.rank, shape.in_features));
    EXPECT_THAT(m.lora_b->shape, ElementsAre(shape.out_features, c.rank));
    EXPECT_EQ((*files)->weights().Data(*m.lora_a).size(), m.lora_a->nbytes);
    if (i > 0) {  // Sorted by (layer, kind).
      EXPECT_LT(std::make_pair(modules[i - 1].layer, modules[i - 1].kind),
                std::make_pair(m.layer, m.kind));
    }
  }
  const LoraAdapterSummary& summary = (*files)->summary();
  EXPECT_EQ(summary.max_rank, c.rank);
  EXPECT_DOUBLE_EQ(summary.lora_alpha, c.alpha);
  EXPECT_EQ(summary.targets, c.targets);
  EXPECT_EQ(summary.num_modules, c.num_modules);
  uint64_t bytes = 0;
  for (const TensorInfo& t : (*files)->weights().tensors()) {
    bytes += t.nbytes;
  }
  EXPECT_EQ(summary.weight_bytes, bytes);
}

const std::vector<std::string> kAllKinds = {"q_proj",   "k_proj",    "v_proj",
                                            "o_proj",   "gate_proj", "up_proj",
                                            "down_proj"};

INSTANTIATE_TEST_SUITE_P(
    ReferenceAdapters, FixtureAdapterTest,
    ::testing::Values(
        FixtureCase{"llama-gqa", "qv-r8", 4, 8, 16, 2.0, {"q_proj", "v_proj"}},
        FixtureCase{"llama-gqa", "all-r16", 14, 16, 32, 2.0, kAllKinds},
        FixtureCase{"llama-gqa",
                    "attn-r4-rslora",
                    8,
                    4,
                    8,
                    4.0,
                    {"q_proj", "k_proj", "v_proj", "o_proj"}},
        FixtureCase{"qwen2-bias", "all-r8", 14, 8, 8, 1.0, kAllKinds}),
    [](const ::testing::TestParamInfo<FixtureCase>& param_info) {
      std::string name =
          param_info.param.model + "_" + param_info.param.adapter;
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

TEST(FixtureAdapterTest, RsLoraFlagReachesTheSummary) {
  auto files =
      LoraAdapterFiles::Open(FixtureDir("llama-gqa/adapters/attn-r4-rslora"),
                             LoadFixtureModel("llama-gqa"));
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE((*files)->summary().use_rslora);
}

TEST(FixtureAdapterTest, AdapterForOtherModelIsRefusedByShape) {
  // qwen2-bias's MLP is 128 wide, llama-gqa's 160.
  auto files = LoraAdapterFiles::Open(FixtureDir("qwen2-bias/adapters/all-r8"),
                                      LoadFixtureModel("llama-gqa"));
  ASSERT_FALSE(files.ok());
  EXPECT_THAT(
      MessageOf(files.status()),
      HasSubstr("layers.0.mlp.gate_proj.lora_B.weight' has shape [128, 8], "
                "expected [160, 8]"));
}

// ---- Adapters built in a temporary directory
// ---------------------------------

class AdapterDirTest : public ::testing::Test {
 protected:
  AdapterDirTest() : model_(LoadFixtureModel("llama-gqa")) {}

  // Writes `config` with A/B tensors for each listed (layer, kind) at
  // `rank`, plus whatever `extra` adds.
  void Write(const json& config,
             const std::vector<std::pair<int64_t, LinearKind>>& modules,
             int64_t rank = 8,
             const std::function<void(SafetensorsWriter&)>& extra = nullptr) {
    SafetensorsWriter writer;
    for (const auto& [layer, kind] : modules) {
      AddModule(writer, model_, layer, kind, rank);
    }
    if (extra) {
      extra(writer);
    }
    WriteAdapter(dir_.path(), config, writer);
  }

  static std::vector<std::pair<int64_t, LinearKind>> QvModules() {
    return {{0, kQ}, {0, kV}, {1, kQ}, {1, kV}};
  }

  absl::StatusOr<std::unique_ptr<LoraAdapterFiles>> Open(
      const LoraValidationOptions& options = {}) {
    return LoraAdapterFiles::Open(dir_.path(), model_, options);
  }

  void ExpectError(absl::StatusCode code, std::string_view substring,
                   const LoraValidationOptions& options = {}) {
    auto files = Open(options);
    ASSERT_FALSE(files.ok());
    EXPECT_EQ(files.status().code(), code) << files.status();
    EXPECT_THAT(MessageOf(files.status()),
                StartsWith("adapter " + dir_.path() + ": "));
    EXPECT_THAT(MessageOf(files.status()), HasSubstr(substring));
  }

  void ExpectInvalid(std::string_view substring,
                     const LoraValidationOptions& options = {}) {
    ExpectError(absl::StatusCode::kInvalidArgument, substring, options);
  }

  ModelConfig model_;
  TempDir dir_;
};

TEST_F(AdapterDirTest, BuiltAdapterOpens) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules());
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->modules().size(), 4u);
}

TEST_F(AdapterDirTest, WrongShapeOfA) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), {{0, kV}, {1, kQ}, {1, kV}},
        8, [](SafetensorsWriter& w) {
          AddFilled(w, LoraWeightKeyName(0, kQ, true), {8, 63}, 0.1f);
          AddFilled(w, LoraWeightKeyName(0, kQ, false), {64, 8}, 0.1f);
        });
  ExpectInvalid(
      "tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A."
      "weight' has shape [8, 63], expected [8, 64] (rank x in_features)");
}

TEST_F(AdapterDirTest, WrongShapeOfB) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), {{0, kQ}, {1, kQ}, {1, kV}},
        8, [](SafetensorsWriter& w) {
          AddFilled(w, LoraWeightKeyName(0, kV, true), {8, 64}, 0.1f);
          AddFilled(w, LoraWeightKeyName(0, kV, false), {64, 8},
                    0.1f);  // out is 32
        });
  ExpectInvalid(
      "v_proj.lora_B.weight' has shape [64, 8], expected [32, 8] "
      "(out_features x rank)");
}

TEST_F(AdapterDirTest, RankDifferentFromConfig) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules(), /*rank=*/4);
  ExpectInvalid("q_proj.lora_A.weight' has shape [4, 64], expected [8, 64]");
}

TEST_F(AdapterDirTest, RankAboveServerMaximum) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules());
  LoraValidationOptions options;
  options.max_rank = 4;
  ExpectInvalid(
      "model.layers.0.self_attn.q_proj has rank 8; this server accepts "
      "at most 4",
      options);
  options.max_rank = 8;
  EXPECT_TRUE(Open(options).ok());
}

TEST_F(AdapterDirTest, NaNAndInfWeights) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Write(FixtureAdapterConfig("llama-gqa", "qv-r8"),
          {{0, kQ}, {0, kV}, {1, kQ}}, 8, [bad](SafetensorsWriter& w) {
            AddFilled(w, LoraWeightKeyName(1, kV, true), {8, 64}, 0.5f);
            AddFilled(w, LoraWeightKeyName(1, kV, false), {32, 8}, bad);
          });
    ExpectInvalid(
        "tensor 'base_model.model.model.layers.1.self_attn.v_proj.lora_B."
        "weight' contains NaN or Inf");
    LoraValidationOptions unchecked;
    unchecked.check_finite = false;
    EXPECT_TRUE(Open(unchecked).ok());
  }
}

TEST_F(AdapterDirTest, UnsupportedConfigIsRefusedWithTheDirectory) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["target_modules"] = {"q_proj", "lm_head"};
  Write(config, QvModules());
  ExpectInvalid(
      "adapter_config.json: target module 'lm_head' is not supported");
  config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["use_dora"] = true;
  Write(config, QvModules());
  ExpectInvalid("DoRA (use_dora: true) is not supported");
  config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["bias"] = "all";
  Write(config, QvModules());
  ExpectInvalid("bias 'all' is not supported");
  config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["modules_to_save"] = {"lm_head"};
  Write(config, QvModules());
  ExpectInvalid("'modules_to_save' is not supported");
}

TEST_F(AdapterDirTest, BadJson) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules());
  WriteFile(dir_.Join("adapter_config.json"), "{\"r\": 8, ");
  ExpectInvalid("adapter_config.json: not valid JSON");
}

TEST_F(AdapterDirTest, MissingFiles) {
  ExpectError(absl::StatusCode::kNotFound, "adapter_config.json not found");
  WriteFile(dir_.Join("adapter_config.json"),
            FixtureAdapterConfig("llama-gqa", "qv-r8").dump());
  ExpectError(absl::StatusCode::kNotFound,
              "adapter_model.safetensors not found");
  WriteFile(dir_.Join("adapter_model.bin"), "pickle");
  ExpectInvalid(
      "pickle .bin adapters are not supported; save with "
      "safe_serialization");
}

TEST_F(AdapterDirTest, CorruptSafetensors) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules());
  WriteFile(dir_.Join("adapter_model.safetensors"), "short");
  ExpectInvalid("adapter_model.safetensors: file is 5 bytes, too short");
}

TEST_F(AdapterDirTest, MissingBForATargetedModule) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), {{0, kQ}, {0, kV}, {1, kQ}},
        8, [](SafetensorsWriter& w) {
          AddFilled(w, LoraWeightKeyName(1, kV, true), {8, 64}, 0.5f);
        });
  ExpectInvalid(
      "adapter_config.json targets model.layers.1.self_attn.v_proj but "
      "tensor 'base_model.model.model.layers.1.self_attn.v_proj.lora_B."
      "weight' is missing");
}

TEST_F(AdapterDirTest, MissingModuleEntirely) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"),
        {{0, kQ}, {0, kV}, {1, kQ}});
  ExpectInvalid(
      "targets model.layers.1.self_attn.v_proj but tensor "
      "'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight' "
      "is missing");
}

TEST_F(AdapterDirTest, TensorForModuleTheConfigDoesNotTarget) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules(), 8,
        [this](SafetensorsWriter& w) {
          AddModule(w, model_, 0, LinearKind::kK, 8);
        });
  ExpectInvalid(
      "tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A."
      "weight' is for model.layers.0.self_attn.k_proj, which "
      "adapter_config.json does not target");
}

TEST_F(AdapterDirTest, LayerIndexOutOfRange) {
  Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules(), 8,
        [this](SafetensorsWriter& w) { AddModule(w, model_, 2, kQ, 8); });
  ExpectInvalid(
      "tensor 'base_model.model.model.layers.2.self_attn.q_proj.lora_A."
      "weight' is for layer 2 but the base model has 2 layers");
}

TEST_F(AdapterDirTest, KeysThatAreNotPlainLoraWeights) {
  const struct {
    std::string key;
    const char* message;
  } cases[] = {
      {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
       "keeps the adapter name 'default'; only the form PEFT saves is "
       "accepted"},
      {"base_model.model.model.embed_tokens.lora_embedding_A",
       "is not a LoRA weight Loraplex can apply"},
      {"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
       "is not a LoRA weight Loraplex can apply"},
      {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias",
       "is not a LoRA weight Loraplex can apply"},
      {"base_model.model.lm_head.lora_A.weight", "is not a LoRA weight"},
      {"model.layers.0.self_attn.q_proj.lora_A.weight", "is not a LoRA weight"},
      {"base_model.model.model.layers.0.mlp.q_proj.lora_A.weight",
       "adapts module 'mlp.q_proj'; LoRA targets are"},
      {"base_model.model.model.layers.0.self_attn.rotary.lora_A.weight",
       "adapts module 'self_attn.rotary'"},
      {"base_model.model.model.layers.01.self_attn.q_proj.lora_A.weight",
       "has layer index '01', not a decimal layer number"},
      {"base_model.model.model.layers.x.self_attn.q_proj.lora_A.weight",
       "has layer index 'x'"},
  };
  for (const auto& c : cases) {
    Write(FixtureAdapterConfig("llama-gqa", "qv-r8"), QvModules(), 8,
          [&c](SafetensorsWriter& w) { AddFilled(w, c.key, {1}, 0.0f); });
    ExpectInvalid("tensor '" + c.key + "' " + c.message);
  }
}

TEST_F(AdapterDirTest, AdaptsNoModule) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["layers_to_transform"] = {5};
  Write(config, {});
  ExpectInvalid("adapts no module of the base model");
}

// ---- Matching rules through Open
// ---------------------------------------------

TEST_F(AdapterDirTest, RegexTargets) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["target_modules"] = "model\\.layers\\.1\\.self_attn\\.(q|v)_proj";
  Write(config, {{1, kQ}, {1, kV}});
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->modules().size(), 2u);
  EXPECT_EQ((*files)->modules()[0].layer, 1);
  Write(config, QvModules());  // Layer 0 tensors are not targeted.
  ExpectInvalid(
      "layers.0.self_attn.q_proj.lora_A.weight' is for "
      "model.layers.0.self_attn.q_proj, which adapter_config.json does "
      "not target");
}

TEST_F(AdapterDirTest, RegexSelectingANonLinearModuleIsRefused) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["target_modules"] = "model\\.layers\\.\\d+\\.(mlp|self_attn\\.q_proj)";
  Write(config, {{0, kQ}, {1, kQ}});
  ExpectInvalid(
      "target_modules regex 'model\\.layers\\.\\d+\\.(mlp|self_attn\\.q_proj)' "
      "matches 'model.layers.0.mlp', which is not a linear layer");
}

TEST_F(AdapterDirTest, RankAndAlphaPatternsSetPerModuleScales) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");  // r 8, alpha 16
  config["rank_pattern"] = {{"v_proj", 4}};
  config["alpha_pattern"] = {{"model.layers.1.self_attn.q_proj", 32}};
  SafetensorsWriter writer;
  AddModule(writer, model_, 0, kQ, 8);
  AddModule(writer, model_, 0, kV, 4);
  AddModule(writer, model_, 1, kQ, 8);
  AddModule(writer, model_, 1, kV, 4);
  WriteAdapter(dir_.path(), config, writer);
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  const auto& m = (*files)->modules();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].rank, 8);
  EXPECT_FLOAT_EQ(m[0].scale, 2.0f);  // 16 / 8
  EXPECT_EQ(m[1].rank, 4);
  EXPECT_FLOAT_EQ(m[1].scale, 4.0f);  // 16 / 4
  EXPECT_FLOAT_EQ(m[2].scale, 4.0f);  // 32 / 8
  EXPECT_FLOAT_EQ(m[3].scale, 4.0f);
  EXPECT_EQ((*files)->summary().max_rank, 8);
}

TEST_F(AdapterDirTest, RsLoraWithRankPattern) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["use_rslora"] = true;
  config["rank_pattern"] = {{"v_proj", 4}};
  SafetensorsWriter writer;
  AddModule(writer, model_, 0, kQ, 8);
  AddModule(writer, model_, 0, kV, 4);
  AddModule(writer, model_, 1, kQ, 8);
  AddModule(writer, model_, 1, kV, 4);
  WriteAdapter(dir_.path(), config, writer);
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_FLOAT_EQ((*files)->modules()[0].scale,
                  static_cast<float>(16 / std::sqrt(8.0)));
  EXPECT_FLOAT_EQ((*files)->modules()[1].scale, 8.0f);  // 16 / sqrt(4)
}

TEST_F(AdapterDirTest, LayersToTransform) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["layers_to_transform"] = 1;
  Write(config, {{1, kQ}, {1, kV}});
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ((*files)->modules().size(), 2u);
  EXPECT_EQ((*files)->modules()[0].layer, 1);
  Write(config, QvModules());
  ExpectInvalid(
      "is for model.layers.0.self_attn.q_proj, which adapter_config.json "
      "does not target");
}

TEST_F(AdapterDirTest, AllLinearWithExcludeModules) {
  json config = FixtureAdapterConfig("llama-gqa", "qv-r8");
  config["target_modules"] = "all-linear";
  config["exclude_modules"] = {"v_proj", "down_proj"};
  std::vector<std::pair<int64_t, LinearKind>> modules;
  for (int64_t layer = 0; layer < 2; ++layer) {
    for (LinearKind kind : {LinearKind::kQ, LinearKind::kK, LinearKind::kO,
                            LinearKind::kGate, LinearKind::kUp}) {
      modules.emplace_back(layer, kind);
    }
  }
  Write(config, modules);
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->modules().size(), 10u);
  EXPECT_THAT(
      (*files)->summary().targets,
      ElementsAre("q_proj", "k_proj", "o_proj", "gate_proj", "up_proj"));
  config["exclude_modules"] = "model\\.layers\\.0\\..*";
  Write(config, modules);
  ExpectInvalid(
      "is for model.layers.0.self_attn.q_proj, which adapter_config.json "
      "does not target");
}

TEST_F(AdapterDirTest, CopiedFixtureWithExtraFilesStillOpens) {
  CopyDirectory(FixtureDir("llama-gqa/adapters/all-r16"), dir_.path());
  WriteFile(dir_.Join("adapter_model.bin"), "ignored when safetensors exist");
  auto files = Open();
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->modules().size(), 14u);
}

}  // namespace
}  // namespace loraplex::engine
