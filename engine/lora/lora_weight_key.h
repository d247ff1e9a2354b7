// The tensor names PEFT writes to adapter_model.safetensors for LoRA on a
// Llama-family linear layer. Internal to engine/lora.
#ifndef LORAPLEX_ENGINE_LORA_LORA_WEIGHT_KEY_H_
#define LORAPLEX_ENGINE_LORA_LORA_WEIGHT_KEY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/config/model_config.h"

namespace loraplex::engine {

struct LoraWeightKey {
  int64_t layer = 0;
  LinearKind kind = LinearKind::kQ;
  bool is_a = true;  // lora_A ([rank, in]) or lora_B ([out, rank])
};

// Parses "base_model.model.model.layers.<N>.<self_attn|mlp>.<x>_proj.
// lora_<A|B>.weight" (N in canonical decimal, the parent matching the
// kind). INVALID_ARGUMENT naming the key for anything else: other PEFT
// tensors (lora_embedding_A, lora_magnitude_vector, biases), modules that
// are not one of the seven kinds, or keys that keep the adapter name
// ("lora_A.default.weight"; PEFT strips it when saving).
absl::StatusOr<LoraWeightKey> ParseLoraWeightKey(const std::string& key);

// The inverse of ParseLoraWeightKey.
std::string LoraWeightKeyName(int64_t layer, LinearKind kind, bool is_a);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_LORA_LORA_WEIGHT_KEY_H_
