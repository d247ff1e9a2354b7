// Internal (includes LibTorch): writing a trained model as a Hugging Face
// directory and LoRA factors as a PEFT adapter, and reading a base model's
// weights back for LoRA training.
#ifndef LORAPLEX_ENGINE_TRAIN_MODEL_EXPORT_H_
#define LORAPLEX_ENGINE_TRAIN_MODEL_EXPORT_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/config/model_config.h"
#include "engine/train/train_model.h"

namespace loraplex::engine {

// Writes config.json, generation_config.json and model.safetensors (float32,
// HF tensor names; no lm_head.weight when tied) into `out_dir`, and copies
// tokenizer.json and tokenizer_config.json from `tokenizer_dir`.
absl::Status WriteHfModelDir(LlamaTrainModel& model, double initializer_range,
                             const std::string& tokenizer_dir,
                             const std::string& out_dir);

struct PeftAdapterInfo {
  int64_t rank = 0;
  double alpha = 0;
  std::vector<LinearKind> targets;
  std::string base_model_name_or_path;
};

// adapter_config.json's text for a plain PEFT LoRA (CAUSAL_LM, no DoRA,
// rsLoRA, bias or extra modules).
std::string PeftAdapterConfigJson(const PeftAdapterInfo& info);

// Writes adapter_config.json (PEFT LoRA, CAUSAL_LM) and
// adapter_model.safetensors with PEFT's keys
// ("base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight").
absl::Status WritePeftAdapterDir(LlamaTrainModel& model,
                                 const PeftAdapterInfo& info,
                                 const std::string& out_dir);

// Every tensor of <model_dir>'s safetensors checkpoint as float32 on the
// CPU, by name.
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadModelTensors(
    const std::string& model_dir);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_MODEL_EXPORT_H_
