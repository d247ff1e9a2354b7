// Hugging Face config.json (+ generation_config.json) for the Llama family:
// LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM. Anything the engine
// cannot run faithfully is refused with a message that names the field.
#ifndef LORAPLEX_ENGINE_CONFIG_MODEL_CONFIG_H_
#define LORAPLEX_ENGINE_CONFIG_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loraplex::engine {

enum class RopeScalingType {
  kNone,    // "default" / absent
  kLinear,  // positions divided by `factor`
  kLlama3,  // Llama 3.1 frequency-band scaling
};

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  // kLlama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string model_type;    // "llama" | "mistral" | "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // == heads (MHA), 1 (MQA), else GQA
  int64_t head_dim = 0;             // config's head_dim, else hidden / heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;  // lm_head shares embed_tokens.weight
  bool qkv_bias = false;  // q/k/v projections carry a bias (Qwen2; Llama
                          // with attention_bias)
  bool o_bias = false;    // o_proj carries a bias (Llama attention_bias)
  bool mlp_bias = false;  // gate/up/down carry a bias (Llama mlp_bias)
  // Mistral's sliding-window attention: a query at position p sees keys at
  // positions > p - sliding_window. Unset = full causal attention.
  std::optional<int64_t> sliding_window;
  std::optional<int32_t> bos_token_id;
  // config.json's eos_token_id, overridden by generation_config.json's when
  // that file sets one; either may be a single id or a list.
  std::vector<int32_t> eos_token_ids;
  std::optional<int32_t> pad_token_id;
  std::string torch_dtype;  // "dtype"/"torch_dtype" as written, may be empty
};

// Parses config.json text and, when non-empty, generation_config.json text.
// Either over 1 MiB or nested deeper than 64 levels is refused before a DOM
// is built (kConfigJsonLimits, engine/config/json_fields.h).
absl::StatusOr<ModelConfig> ParseModelConfig(
    std::string_view config_json, std::string_view generation_config_json);

// Reads <model_dir>/config.json and, if present,
// <model_dir>/generation_config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

// The seven linear layers a LoRA adapter may target.
enum class LinearKind { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumLinearKinds = 7;

// "q_proj", "k_proj", ..., "down_proj". (const char*, not string_view:
// Debian's Abseil has its own string_view that StrCat does not take from
// std::string_view.)
const char* LinearKindName(LinearKind kind);
// "self_attn" for q/k/v/o, "mlp" for gate/up/down.
const char* LinearKindParent(LinearKind kind);
// Parses "q_proj" etc.; nullopt for anything else.
std::optional<LinearKind> LinearKindFromName(std::string_view name);

struct LinearShape {
  int64_t in_features = 0;
  int64_t out_features = 0;
};
// The weight of `kind` is [out_features, in_features].
LinearShape LinearShapeOf(const ModelConfig& config, LinearKind kind);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_CONFIG_MODEL_CONFIG_H_
