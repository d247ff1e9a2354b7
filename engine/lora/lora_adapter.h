// PEFT LoRA adapters: adapter_config.json and adapter_model.safetensors,
// validated against a base model before anything is loaded.
#ifndef LORAPLEX_ENGINE_LORA_LORA_ADAPTER_H_
#define LORAPLEX_ENGINE_LORA_LORA_ADAPTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/config/model_config.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

// The fields of adapter_config.json that change the math. Fields that PEFT
// writes but that do not affect inference (task_type, inference_mode,
// lora_dropout, ...) are ignored; fields Loraplex cannot honour (bias other
// than "none", use_dora, modules_to_save, non-null layer_replication, ...)
// are refused by ParseLoraAdapterConfig.
struct LoraAdapterConfig {
  int64_t r = 0;
  double lora_alpha = 0;
  bool use_rslora = false;  // scale = alpha / sqrt(r) instead of alpha / r
  // PEFT resets it to false for torch.nn.Linear layers (all Llama-family
  // targets), so it is accepted and has no effect.
  bool fan_in_fan_out = false;
  // Exactly one of the two is used: a list of module-name suffixes
  // ("q_proj", or "all-linear" expanded), or a regex that must fully match
  // the module name ("model.layers.0.self_attn.q_proj").
  std::vector<std::string> target_modules_list;
  std::optional<std::string> target_modules_regex;
  std::vector<std::string> exclude_modules_list;
  std::optional<std::string> exclude_modules_regex;
  // PEFT's per-module overrides, keyed by a pattern matched as PEFT does.
  std::vector<std::pair<std::string, int64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;
  std::optional<std::vector<int64_t>> layers_to_transform;
  std::string base_model_name_or_path;
};

absl::StatusOr<LoraAdapterConfig> ParseLoraAdapterConfig(std::string_view json);

// How one base-model linear layer is adapted.
struct LoraModuleSpec {
  bool targeted = false;
  int64_t rank = 0;
  double alpha = 0;
  double scale = 0;  // alpha / rank, or alpha / sqrt(rank) with rsLoRA
};

// Applies PEFT's matching rules (target_modules, exclude_modules,
// layers_to_transform, rank_pattern, alpha_pattern) to the module
// "model.layers.<layer>.<parent>.<kind>".
LoraModuleSpec ResolveLoraModule(const LoraAdapterConfig& config, int64_t layer,
                                 LinearKind kind);

// One adapted linear layer: y += scale * (x A^T) B^T.
struct LoraModuleWeights {
  int64_t layer = 0;
  LinearKind kind = LinearKind::kQ;
  int64_t rank = 0;
  float scale = 0;
  const TensorInfo* lora_a = nullptr;  // [rank, in_features]
  const TensorInfo* lora_b = nullptr;  // [out_features, rank]
};

// The default LoraValidationOptions::max_update_norm. The reference
// fixtures (tests/data/fixtures) and the demo adapters (models/demo) score
// at most 33.8 (Note [LoRA update bound] in lora_value_checks.h); a
// PEFT-trained r=16 adapter of a 7B model about 5-25 (||A||_F ~
// sqrt(r/3) from PEFT's init, ||B||_F ~ 1-5, scale 2), a high-rank rsLoRA
// one some hundreds. 1e4 leaves a wide margin while an overflowing adapter
// (weights of 1e19) scores above 1e38.
inline constexpr double kDefaultMaxLoraUpdateNorm = 1e4;

struct LoraValidationOptions {
  int64_t max_rank = 256;  // A module with a larger rank is refused.
  // Reads every weight value and applies Note [LoRA update bound] (in
  // lora_value_checks.h): values finite, scale and scale * B finite in
  // float32, scale * ||B||_F * ||A||_F <= max_update_norm. false skips
  // reading the values at all (trusted adapters only).
  bool check_finite = true;
  double max_update_norm = kDefaultMaxLoraUpdateNorm;
};

// Summary for listings and metrics.
struct LoraAdapterSummary {
  int64_t max_rank = 0;   // Largest rank over the adapted modules.
  double lora_alpha = 0;  // As configured (before patterns).
  bool use_rslora = false;
  std::vector<std::string> targets;  // Distinct kinds, e.g. {"q_proj", ...}
  int64_t num_modules = 0;           // Adapted (layer, kind) pairs.
  uint64_t weight_bytes = 0;
};

// A parsed adapter directory whose every tensor has been checked against
// the base model: key names
// (base_model.model.model.layers.N.{self_attn,mlp}.X_proj.lora_{A,B}.weight),
// A/B present in pairs for exactly the modules the config targets, shapes
// [r, in] and [out, r] with r as the config resolves it and <= max_rank,
// and (unless check_finite is false) values within Note [LoRA update
// bound]. Bounds on the files, checked before anything is built from them:
// adapter_config.json at most 1 MiB and 64 levels deep (kConfigJsonLimits);
// adapter_model.safetensors lists at most layers x 7 x 2 tensors, and its
// header is at most 1 MiB plus 1 KiB per such tensor (an entry PEFT writes
// is about 150 bytes).
class LoraAdapterFiles {
 public:
  static absl::StatusOr<std::unique_ptr<LoraAdapterFiles>> Open(
      const std::string& adapter_dir, const ModelConfig& model,
      const LoraValidationOptions& options = {});

  const LoraAdapterConfig& config() const { return config_; }
  // Sorted by (layer, kind).
  const std::vector<LoraModuleWeights>& modules() const { return modules_; }
  const SafetensorsFile& weights() const { return *weights_; }
  const LoraAdapterSummary& summary() const { return summary_; }

 private:
  LoraAdapterFiles() = default;

  LoraAdapterConfig config_;
  std::unique_ptr<SafetensorsFile> weights_;
  std::vector<LoraModuleWeights> modules_;
  LoraAdapterSummary summary_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_LORA_LORA_ADAPTER_H_
