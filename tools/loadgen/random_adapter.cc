#include "tools/loadgen/random_adapter.h"

#include <sys/stat.h>

#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/safetensors/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace loraplex::loadgen {
namespace {

std::vector<float> RandomValues(size_t count, float stddev,
                                std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

std::string ConfigJson(const RandomAdapterSpec& spec) {
  const nlohmann::json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", nullptr},
      {"r", spec.rank},
      {"lora_alpha", spec.lora_alpha},
      {"lora_dropout", 0.0},
      {"target_modules", spec.target_modules},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"use_rslora", false},
      {"use_dora", false},
      {"modules_to_save", nullptr},
      {"layers_to_transform", nullptr},
      {"rank_pattern", nlohmann::json::object()},
      {"alpha_pattern", nlohmann::json::object()},
      {"inference_mode", true},
  };
  return config.dump(2);
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<engine::ModelConfig> LoadModelConfigFrom(
    const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return engine::LoadModelConfig(path);
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read model config ", path));
  }
  const std::string text((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  return engine::ParseModelConfig(text, "");
}

absl::Status WriteRandomAdapter(const engine::ModelConfig& config,
                                const RandomAdapterSpec& spec,
                                const std::string& dir) {
  if (spec.rank < 1) {
    return absl::InvalidArgumentError("adapter rank must be >= 1");
  }
  if (spec.target_modules.empty()) {
    return absl::InvalidArgumentError("adapter needs at least one target");
  }
  std::vector<engine::LinearKind> kinds;
  for (const std::string& name : spec.target_modules) {
    std::optional<engine::LinearKind> kind = engine::LinearKindFromName(name);
    if (!kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown adapter target '", name,
          "' (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"));
    }
    kinds.push_back(*kind);
  }
  std::mt19937_64 rng(spec.seed);
  engine::SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  const int64_t r = spec.rank;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    for (engine::LinearKind kind : kinds) {
      const engine::LinearShape shape = engine::LinearShapeOf(config, kind);
      const std::string prefix = absl::StrCat(
          "base_model.model.model.layers.", layer, ".",
          engine::LinearKindParent(kind), ".", engine::LinearKindName(kind));
      const std::vector<float> a = RandomValues(
          static_cast<size_t>(r * shape.in_features), spec.stddev, rng);
      const std::vector<float> b = RandomValues(
          static_cast<size_t>(shape.out_features * r), spec.stddev, rng);
      RETURN_IF_ERROR(writer.AddFloat32(absl::StrCat(prefix, ".lora_A.weight"),
                                        {r, shape.in_features}, a.data()));
      RETURN_IF_ERROR(writer.AddFloat32(absl::StrCat(prefix, ".lora_B.weight"),
                                        {shape.out_features, r}, b.data()));
    }
  }
  RETURN_IF_ERROR(
      writer.WriteFile(absl::StrCat(dir, "/adapter_model.safetensors")));
  return WriteText(absl::StrCat(dir, "/adapter_config.json"), ConfigJson(spec));
}

}  // namespace loraplex::loadgen
