// The architecture file a base-model training run starts from (e.g.
// small.json), and the Hugging Face config files a trained model is saved
// with.
#ifndef LORAPLEX_ENGINE_TRAIN_MODEL_SPEC_H_
#define LORAPLEX_ENGINE_TRAIN_MODEL_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/config/model_config.h"

namespace loraplex::engine {

struct ModelSpec {
  ModelConfig config;  // A LlamaForCausalLM; no biases, no RoPE scaling.
  double initializer_range = 0.02;  // Std of the normal weight init.
};

// Parses an architecture file: a JSON object with hidden_size,
// intermediate_size, num_hidden_layers, num_attention_heads (required) and
// num_key_value_heads (default: heads), head_dim (default: hidden / heads),
// max_position_embeddings (default 2048), rope_theta (10000), rms_norm_eps
// (1e-5), tie_word_embeddings (true), initializer_range (0.02), and
// optionally vocab_size, which must then equal `vocab_size` (the
// tokenizer's). Unknown keys are refused so that a typo cannot silently
// train a different model. INVALID_ARGUMENT naming the field otherwise.
absl::StatusOr<ModelSpec> ParseModelSpec(std::string_view json,
                                         int64_t vocab_size, int32_t bos_id,
                                         int32_t eos_id);

// config.json for `config` as transformers writes a float32
// LlamaForCausalLM (both the 4.x "rope_theta"/"torch_dtype" spellings and
// 5.x's "rope_parameters"/"dtype").
std::string HfConfigJson(const ModelConfig& config, double initializer_range);
// generation_config.json: BOS and EOS ids.
std::string HfGenerationConfigJson(const ModelConfig& config);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_MODEL_SPEC_H_
