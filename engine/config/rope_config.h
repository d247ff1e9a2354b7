// RoPE settings of config.json in both spellings transformers has used.
// Internal to engine/config.
#ifndef LORAPLEX_ENGINE_CONFIG_ROPE_CONFIG_H_
#define LORAPLEX_ENGINE_CONFIG_ROPE_CONFIG_H_

#include "absl/status/status.h"
#include "engine/config/json_fields.h"
#include "engine/config/model_config.h"

namespace loraplex::engine {

// Fills config.rope_theta and config.rope_scaling from `fields` (the whole
// config.json): transformers >= 5 writes "rope_parameters": {"rope_theta",
// "rope_type", ...}; older versions write "rope_theta" at the top level and
// "rope_scaling": {"type" or "rope_type", "factor", ...}. Supported types:
// default, linear, llama3; others are refused by name.
absl::Status ParseRopeConfig(const JsonFields& fields, ModelConfig& config);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_CONFIG_ROPE_CONFIG_H_
