// Random PEFT LoRA adapters for a base model's geometry, as PEFT's
// save_pretrained writes them (adapter_config.json +
// adapter_model.safetensors, float32): load generator and benchmark inputs.
// The load generator reads the geometry from the model's config.json
// (--model-config) rather than asking the server, so the API needs no
// model-info RPC.
#ifndef LORAPLEX_TOOLS_LOADGEN_RANDOM_ADAPTER_H_
#define LORAPLEX_TOOLS_LOADGEN_RANDOM_ADAPTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/config/model_config.h"

namespace loraplex::loadgen {

struct RandomAdapterSpec {
  int32_t rank = 8;
  double lora_alpha = 16;
  // Module kinds adapted in every layer ("q_proj", ..., "down_proj").
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj",
                                             "o_proj"};
  uint64_t seed = 0;     // Same seed, same weights.
  float stddev = 0.02f;  // Of the normal the A and B entries are drawn from.
};

// Reads the model's config from `path`: a config.json file or a model
// directory holding one.
absl::StatusOr<engine::ModelConfig> LoadModelConfigFrom(
    const std::string& path);

// Writes the two adapter files into `dir` (which must exist). B is random
// too (not PEFT's zeros), so every adapter changes the output.
// INVALID_ARGUMENT for a rank < 1, no targets, or an unknown target name.
absl::Status WriteRandomAdapter(const engine::ModelConfig& config,
                                const RandomAdapterSpec& spec,
                                const std::string& dir);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_RANDOM_ADAPTER_H_
