// LinearKind helpers of model_config.h.
#include "engine/config/model_config.h"

namespace loraplex::engine {

const char* LinearKindName(LinearKind kind) {
  switch (kind) {
    case LinearKind::kQ:
      return "q_proj";
    case LinearKind::kK:
      return "k_proj";
    case LinearKind::kV:
      return "v_proj";
    case LinearKind::kO:
      return "o_proj";
    case LinearKind::kGate:
      return "gate_proj";
    case LinearKind::kUp:
      return "up_proj";
    case LinearKind::kDown:
      return "down_proj";
  }
  return "?";
}

const char* LinearKindParent(LinearKind kind) {
  switch (kind) {
    case LinearKind::kQ:
    case LinearKind::kK:
    case LinearKind::kV:
    case LinearKind::kO:
      return "self_attn";
    case LinearKind::kGate:
    case LinearKind::kUp:
    case LinearKind::kDown:
      return "mlp";
  }
  return "?";
}

std::optional<LinearKind> LinearKindFromName(std::string_view name) {
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearKind kind = static_cast<LinearKind>(k);
    if (name == LinearKindName(kind)) {
      return kind;
    }
  }
  return std::nullopt;
}

LinearShape LinearShapeOf(const ModelConfig& config, LinearKind kind) {
  const int64_t q_features = config.num_attention_heads * config.head_dim;
  const int64_t kv_features = config.num_key_value_heads * config.head_dim;
  switch (kind) {
    case LinearKind::kQ:
      return {config.hidden_size, q_features};
    case LinearKind::kK:
    case LinearKind::kV:
      return {config.hidden_size, kv_features};
    case LinearKind::kO:
      return {q_features, config.hidden_size};
    case LinearKind::kGate:
    case LinearKind::kUp:
      return {config.hidden_size, config.intermediate_size};
    case LinearKind::kDown:
      return {config.intermediate_size, config.hidden_size};
  }
  return {};
}

}  // namespace loraplex::engine
