// Checks on the values of one adapted module's LoRA weights (Note [LoRA
// update bound]). Internal to engine/lora; LoraAdapterFiles::Open runs them.
#ifndef LORAPLEX_ENGINE_LORA_LORA_VALUE_CHECKS_H_
#define LORAPLEX_ENGINE_LORA_LORA_VALUE_CHECKS_H_

#include <string>

#include "absl/status/status.h"
#include "engine/lora/lora_adapter.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

// Note [LoRA update bound]: an adapted linear layer computes
// y = x W^T + scale * (x A^T) B^T, i.e. adds dW = scale * B A. An adapter
// whose values are finite can still make that sum overflow (weights of
// 1e19, or lora_alpha 1e300), and then its own outputs are NaN. So, per
// module:
//  1. every value of A and B is finite;
//  2. the scale (alpha / r, or alpha / sqrt(r) with rsLoRA, after
//     rank_pattern/alpha_pattern) is finite in float32, and so is
//     scale * B (the engine folds the scale into B, in float32);
//  3. scale * ||B||_F * ||A||_F, an upper bound on dW's spectral norm (the
//     most dW can stretch any input vector), is at most
//     LoraValidationOptions::max_update_norm.
// With (3), a layer's update is at most max_update_norm times the norm of
// its input, which RMSNorm keeps moderate, so activations stay far from
// float32's range. Every reference and demo adapter scores <= 34 (see
// kDefaultMaxLoraUpdateNorm).
//
// `module` names the module in messages ("model.layers.0.self_attn.q_proj").
// INVALID_ARGUMENT naming the module, tensor and rule broken.
absl::Status CheckLoraModuleValues(const std::string& module,
                                   const LoraModuleSpec& spec, bool use_rslora,
                                   const TensorInfo& lora_a,
                                   const TensorInfo& lora_b,
                                   const SafetensorsFile& weights,
                                   double max_update_norm);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_LORA_LORA_VALUE_CHECKS_H_
