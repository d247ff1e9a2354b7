// LoraAdapterFiles: reads an adapter directory and checks every tensor
// against the base model before anything is loaded.
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/read_text_file.h"
#include "engine/common/status_macros.h"
#include "engine/config/json_fields.h"
#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_module_matcher.h"
#include "engine/lora/lora_value_checks.h"
#include "engine/lora/lora_weight_key.h"

namespace loraplex::engine {
namespace {

constexpr char kConfigFileName[] = "adapter_config.json";
constexpr char kWeightsFileName[] = "adapter_model.safetensors";
constexpr char kPickleFileName[] = "adapter_model.bin";

std::string JoinPath(const std::string& dir, absl::string_view name) {
  if (dir.empty() || dir.back() == '/') {
    return absl::StrCat(dir, name);
  }
  return absl::StrCat(dir, "/", name);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

using ModuleKey = std::pair<int64_t, LinearKind>;  // (layer, kind)
using ModuleTensors = std::pair<const TensorInfo*, const TensorInfo*>;  // A, B

// Every tensor must be a LoRA A or B weight of a layer the model has.
absl::StatusOr<std::map<ModuleKey, ModuleTensors>> GroupTensors(
    const SafetensorsFile& weights, const ModelConfig& model) {
  std::map<ModuleKey, ModuleTensors> modules;
  for (const TensorInfo& tensor : weights.tensors()) {
    ASSIGN_OR_RETURN(const LoraWeightKey key, ParseLoraWeightKey(tensor.name));
    if (key.layer >= model.num_hidden_layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.name, "' is for layer ", key.layer,
          " but the base model has ", model.num_hidden_layers, " layers"));
    }
    ModuleTensors& pair = modules[{key.layer, key.kind}];
    (key.is_a ? pair.first : pair.second) = &tensor;
  }
  return modules;
}

// PEFT refuses LoRA on modules other than linear layers; a regex target
// that selects one is refused here too.
absl::Status RefuseNonLinearTargets(const LoraAdapterConfig& config,
                                    const LoraModuleMatcher& matcher,
                                    const ModelConfig& model) {
  if (!config.target_modules_regex.has_value()) {
    return absl::OkStatus();
  }
  std::vector<std::string> names = {"model", "model.layers",
                                    "model.rotary_emb"};
  for (int64_t layer = 0; layer < model.num_hidden_layers; ++layer) {
    const std::string prefix = absl::StrCat("model.layers.", layer);
    for (const char* suffix :
         {"", ".self_attn", ".mlp", ".mlp.act_fn", ".input_layernorm",
          ".post_attention_layernorm"}) {
      names.push_back(absl::StrCat(prefix, suffix));
    }
  }
  for (const std::string& name : names) {
    if (matcher.Targets(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("adapter_config.json: target_modules regex '",
                       *config.target_modules_regex, "' matches '", name,
                       "', which is not a linear layer LoRA can adapt"));
    }
  }
  return absl::OkStatus();
}

// The bounds lora_adapter.h states for adapter_model.safetensors.
SafetensorsLimits AdapterWeightsLimits(const ModelConfig& model) {
  constexpr uint64_t kFixedHeaderBytes = 1 << 20;
  constexpr uint64_t kHeaderBytesPerTensor = 1 << 10;
  // Configs are validated, but keep the products in range regardless.
  const uint64_t layers = static_cast<uint64_t>(
      std::clamp<int64_t>(model.num_hidden_layers, 0, int64_t{1} << 20));
  SafetensorsLimits limits;
  limits.max_tensors = layers * kNumLinearKinds * 2;
  limits.max_header_bytes =
      kFixedHeaderBytes + kHeaderBytesPerTensor * limits.max_tensors;
  return limits;
}

absl::StatusOr<LoraModuleWeights> CheckModule(
    int64_t layer, LinearKind kind, const LoraModuleSpec& spec,
    const ModuleTensors& tensors, const LoraAdapterConfig& config,
    const ModelConfig& model, const SafetensorsFile& weights,
    const LoraValidationOptions& options) {
  const std::string module = LoraModuleName(layer, kind);
  for (const bool is_a : {true, false}) {
    if ((is_a ? tensors.first : tensors.second) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("adapter_config.json targets ", module, " but tensor '",
                       LoraWeightKeyName(layer, kind, is_a), "' is missing"));
    }
  }
  if (spec.rank > options.max_rank) {
    return absl::InvalidArgumentError(
        absl::StrCat(module, " has rank ", spec.rank,
                     "; this server accepts at most ", options.max_rank));
  }
  const LinearShape shape = LinearShapeOf(model, kind);
  const struct {
    const TensorInfo* tensor;
    std::vector<int64_t> expected;
    const char* meaning;
  } checks[] = {
      {tensors.first, {spec.rank, shape.in_features}, "rank x in_features"},
      {tensors.second, {shape.out_features, spec.rank}, "out_features x rank"},
  };
  for (const auto& check : checks) {
    if (check.tensor->shape != check.expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", check.tensor->name, "' has shape ",
                       ShapeString(check.tensor->shape), ", expected ",
                       ShapeString(check.expected), " (", check.meaning, ")"));
    }
  }
  if (options.check_finite) {
    RETURN_IF_ERROR(CheckLoraModuleValues(module, spec, config.use_rslora,
                                          *tensors.first, *tensors.second,
                                          weights, options.max_update_norm));
  }
  LoraModuleWeights weights_of_module;
  weights_of_module.layer = layer;
  weights_of_module.kind = kind;
  weights_of_module.rank = spec.rank;
  weights_of_module.scale = static_cast<float>(spec.scale);
  weights_of_module.lora_a = tensors.first;
  weights_of_module.lora_b = tensors.second;
  return weights_of_module;
}

LoraAdapterSummary Summarize(const LoraAdapterConfig& config,
                             const std::vector<LoraModuleWeights>& modules) {
  LoraAdapterSummary summary;
  std::set<LinearKind> kinds;
  for (const LoraModuleWeights& m : modules) {
    summary.max_rank = std::max(summary.max_rank, m.rank);
    kinds.insert(m.kind);
    summary.weight_bytes += m.lora_a->nbytes + m.lora_b->nbytes;
  }
  for (LinearKind kind : kinds) {
    summary.targets.emplace_back(LinearKindName(kind));
  }
  summary.lora_alpha = config.lora_alpha;
  summary.use_rslora = config.use_rslora;
  summary.num_modules = static_cast<int64_t>(modules.size());
  return summary;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoraAdapterFiles>> LoraAdapterFiles::Open(
    const std::string& adapter_dir, const ModelConfig& model,
    const LoraValidationOptions& options) {
  const auto in_adapter = [&adapter_dir](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("adapter ", adapter_dir,
                                                    ": ", status.message()));
  };
  const std::string config_path = JoinPath(adapter_dir, kConfigFileName);
  const std::string weights_path = JoinPath(adapter_dir, kWeightsFileName);
  if (!PathExists(config_path)) {
    return in_adapter(
        absl::NotFoundError(absl::StrCat(kConfigFileName, " not found")));
  }
  if (!PathExists(weights_path)) {
    if (PathExists(JoinPath(adapter_dir, kPickleFileName))) {
      return in_adapter(absl::InvalidArgumentError(
          "has only adapter_model.bin: pickle .bin adapters are not supported; "
          "save with safe_serialization=True (adapter_model.safetensors)"));
    }
    return in_adapter(
        absl::NotFoundError(absl::StrCat(kWeightsFileName, " not found")));
  }
  std::unique_ptr<LoraAdapterFiles> files(new LoraAdapterFiles());
  absl::StatusOr<std::string> text =
      ReadTextFile(config_path, kConfigJsonLimits.max_bytes);
  if (!text.ok()) {
    return in_adapter(text.status());
  }
  absl::StatusOr<LoraAdapterConfig> config = ParseLoraAdapterConfig(*text);
  if (!config.ok()) {
    return in_adapter(config.status());
  }
  files->config_ = *std::move(config);
  absl::StatusOr<LoraModuleMatcher> matcher =
      LoraModuleMatcher::Create(files->config_);
  if (!matcher.ok()) {
    return in_adapter(matcher.status());
  }
  if (absl::Status s = RefuseNonLinearTargets(files->config_, *matcher, model);
      !s.ok()) {
    return in_adapter(s);
  }
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> weights =
      SafetensorsFile::Open(weights_path, AdapterWeightsLimits(model));
  if (!weights.ok()) {
    return in_adapter(weights.status());
  }
  files->weights_ = *std::move(weights);

  absl::StatusOr<std::map<ModuleKey, ModuleTensors>> found =
      GroupTensors(*files->weights_, model);
  if (!found.ok()) {
    return in_adapter(found.status());
  }
  for (int64_t layer = 0; layer < model.num_hidden_layers; ++layer) {
    for (int k = 0; k < kNumLinearKinds; ++k) {
      const LinearKind kind = static_cast<LinearKind>(k);
      const LoraModuleSpec spec = matcher->Resolve(layer, kind);
      const auto it = found->find({layer, kind});
      if (!spec.targeted) {
        if (it == found->end()) {
          continue;
        }
        const TensorInfo* any =
            it->second.first ? it->second.first : it->second.second;
        return in_adapter(absl::InvalidArgumentError(absl::StrCat(
            "tensor '", any->name, "' is for ", LoraModuleName(layer, kind),
            ", which adapter_config.json does not target")));
      }
      absl::StatusOr<LoraModuleWeights> module = CheckModule(
          layer, kind, spec, it == found->end() ? ModuleTensors() : it->second,
          files->config_, model, *files->weights_, options);
      if (!module.ok()) {
        return in_adapter(module.status());
      }
      files->modules_.push_back(*module);
    }
  }
  if (files->modules_.empty()) {
    return in_adapter(absl::InvalidArgumentError(
        "adapts no module of the base model (check target_modules, "
        "exclude_modules and layers_to_transform)"));
  }
  files->summary_ = Summarize(files->config_, files->modules_);
  return files;
}

}  // namespace loraplex::engine
