// Checks and small helpers shared by the training entry points (torch-free).
#ifndef LORAPLEX_ENGINE_TRAIN_TRAINING_OPTIONS_H_
#define LORAPLEX_ENGINE_TRAIN_TRAINING_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/config/model_config.h"
#include "engine/train/trainer.h"

namespace loraplex::engine {

// INVALID_ARGUMENT naming the first out-of-range setting (by its flag).
absl::Status ValidateTrainingOptions(const TrainingOptions& options);

// "q", "q_proj", ..., "down_proj" -> kinds, in the order given, without
// duplicates. INVALID_ARGUMENT for an unknown name or an empty list.
absl::StatusOr<std::vector<LinearKind>> ParseLoraTargets(
    const std::vector<std::string>& names);

// The base models LoRA training can load: Llama-family decoders without
// biases, RoPE scaling or sliding windows (what LlamaTrainModel computes).
// INVALID_ARGUMENT naming the unsupported feature.
absl::Status CheckTrainableArchitecture(const ModelConfig& config);

// Writes <out_dir>/train_report.json: the report, the settings and `kind`
// ("base" or "lora").
absl::Status WriteTrainReport(const std::string& out_dir,
                              const std::string& kind,
                              const TrainingOptions& options,
                              const TrainReport& report);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_TRAINING_OPTIONS_H_
