// Builds PEFT-style adapter directories for the LoRA tests.
#ifndef LORAPLEX_TESTS_ENGINE_LORA_LORA_TEST_UTIL_H_
#define LORAPLEX_TESTS_ENGINE_LORA_LORA_TEST_UTIL_H_

#include <cmath>
#include <string>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/lora/lora_weight_key.h"
#include "engine/safetensors/safetensors_writer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {

inline std::string FixtureDir(const std::string& relative) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/hf-dev/" + relative;
}

// adapter_config.json of a fixture adapter, e.g. "llama-gqa", "qv-r8".
inline nlohmann::json FixtureAdapterConfig(const std::string& model,
                                           const std::string& adapter) {
  return nlohmann::json::parse(loraplex::testing::ReadFile(
      FixtureDir(model + "/adapters/" + adapter + "/adapter_config.json")));
}

// Adds a float tensor of `shape` filled with `value`.
inline void AddFilled(SafetensorsWriter& writer, const std::string& name,
                      std::vector<int64_t> shape, float value) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  std::vector<float> values(static_cast<size_t>(numel), value);
  ASSERT_TRUE(writer.AddFloat32(name, std::move(shape), values.data()).ok());
}

// Adds lora_A [rank, in] and lora_B [out, rank] for one module.
inline void AddModule(SafetensorsWriter& writer, const ModelConfig& model,
                      int64_t layer, LinearKind kind, int64_t rank) {
  const LinearShape shape = LinearShapeOf(model, kind);
  AddFilled(writer, LoraWeightKeyName(layer, kind, /*is_a=*/true),
            {rank, shape.in_features}, 0.01f);
  AddFilled(writer, LoraWeightKeyName(layer, kind, /*is_a=*/false),
            {shape.out_features, rank}, -0.02f);
}

// Writes `config` and `writer`'s tensors as an adapter directory.
inline void WriteAdapter(const std::string& dir, const nlohmann::json& config,
                         const SafetensorsWriter& writer) {
  loraplex::testing::WriteFile(dir + "/adapter_config.json", config.dump(2));
  ASSERT_TRUE(writer.WriteFile(dir + "/adapter_model.safetensors").ok());
}

}  // namespace loraplex::engine

#endif  // LORAPLEX_TESTS_ENGINE_LORA_LORA_TEST_UTIL_H_
