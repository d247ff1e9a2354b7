#include "engine/train/model_export.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/runtime/torch_utils.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/safetensors/safetensors_writer.h"
#include "engine/train/file_util.h"
#include "engine/train/model_spec.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

using Json = nlohmann::ordered_json;

absl::Status AddTensor(SafetensorsWriter& writer, const std::string& name,
                       const torch::Tensor& tensor) {
  torch::Tensor cpu =
      tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return writer.AddFloat32(name, cpu.sizes().vec(), cpu.data_ptr<float>());
}

}  // namespace

std::string PeftAdapterConfigJson(const PeftAdapterInfo& info) {
  std::vector<std::string> targets;
  for (LinearKind kind : info.targets) {
    targets.emplace_back(LinearKindName(kind));
  }
  std::sort(targets.begin(), targets.end());
  // The fields PEFT's LoraConfig saves, at the values that describe a
  // plain LoRA (no DoRA, rsLoRA, bias or extra trained modules).
  Json config = {{"alpha_pattern", Json::object()},
                 {"auto_mapping", nullptr},
                 {"base_model_name_or_path", info.base_model_name_or_path},
                 {"bias", "none"},
                 {"exclude_modules", nullptr},
                 {"fan_in_fan_out", false},
                 {"inference_mode", true},
                 {"init_lora_weights", true},
                 {"layer_replication", nullptr},
                 {"layers_pattern", nullptr},
                 {"layers_to_transform", nullptr},
                 {"loftq_config", Json::object()},
                 {"lora_alpha", info.alpha},
                 {"lora_bias", false},
                 {"lora_dropout", 0.0},
                 {"megatron_config", nullptr},
                 {"megatron_core", "megatron.core"},
                 {"modules_to_save", nullptr},
                 {"peft_type", "LORA"},
                 {"r", info.rank},
                 {"rank_pattern", Json::object()},
                 {"revision", nullptr},
                 {"target_modules", targets},
                 {"task_type", "CAUSAL_LM"},
                 {"use_dora", false},
                 {"use_rslora", false}};
  return config.dump(2) + "\n";
}

absl::Status WriteHfModelDir(LlamaTrainModel& model, double initializer_range,
                             const std::string& tokenizer_dir,
                             const std::string& out_dir) {
  RETURN_IF_ERROR(EnsureDirectory(out_dir));
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  for (const auto& [name, param] : model->BaseParameters()) {
    RETURN_IF_ERROR(AddTensor(writer, name, param));
  }
  RETURN_IF_ERROR(writer.WriteFile(out_dir + "/model.safetensors"));
  RETURN_IF_ERROR(
      WriteFileAtomically(out_dir + "/config.json",
                          HfConfigJson(model->config(), initializer_range)));
  RETURN_IF_ERROR(WriteFileAtomically(out_dir + "/generation_config.json",
                                      HfGenerationConfigJson(model->config())));
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    RETURN_IF_ERROR(CopyFile(absl::StrCat(tokenizer_dir, "/", file),
                             absl::StrCat(out_dir, "/", file)));
  }
  return absl::OkStatus();
}

absl::Status WritePeftAdapterDir(LlamaTrainModel& model,
                                 const PeftAdapterInfo& info,
                                 const std::string& out_dir) {
  RETURN_IF_ERROR(EnsureDirectory(out_dir));
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  for (const auto& [name, param] : model->LoraParameters()) {
    RETURN_IF_ERROR(AddTensor(writer, "base_model.model." + name, param));
  }
  RETURN_IF_ERROR(writer.WriteFile(out_dir + "/adapter_model.safetensors"));
  return WriteFileAtomically(out_dir + "/adapter_config.json",
                             PeftAdapterConfigJson(info));
}

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadModelTensors(
    const std::string& model_dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint,
                   SafetensorsCheckpoint::Open(model_dir));
  std::map<std::string, torch::Tensor> tensors;
  for (const std::string& name : checkpoint->TensorNames()) {
    const TensorInfo* info = checkpoint->Find(name);
    tensors[name] = TensorFromBytes(*info, checkpoint->Data(*info),
                                    torch::kFloat32, torch::kCPU);
  }
  return tensors;
}

}  // namespace loraplex::engine
