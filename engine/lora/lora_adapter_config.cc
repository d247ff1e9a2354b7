// adapter_config.json parsing and ResolveLoraModule.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/config/json_fields.h"
#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_module_matcher.h"

namespace loraplex::engine {
namespace {

constexpr char kConfigFile[] = "adapter_config.json";
// Larger ranks are refused by LoraValidationOptions::max_rank anyway; this
// only keeps arithmetic on hostile values in range.
constexpr int64_t kMaxConfigRank = int64_t{1} << 20;

std::string AllTargetNames() {
  std::vector<std::string> names;
  for (int k = 0; k < kNumLinearKinds; ++k) {
    names.emplace_back(LinearKindName(static_cast<LinearKind>(k)));
  }
  return absl::StrJoin(names, ", ");
}

bool IsNullOrEmpty(const Json* value) {
  return value == nullptr ||
         ((value->is_array() || value->is_object() || value->is_string()) &&
          value->empty());
}

// Settings PEFT honours at inference that Loraplex's y += s * B(Ax) does
// not reproduce: refused rather than silently served wrong.
absl::Status RefuseUnsupportedFeatures(const JsonFields& fields) {
  ASSIGN_OR_RETURN(std::optional<std::string> bias,
                   fields.OptionalString("bias"));
  if (bias.has_value() && *bias != "none") {
    return fields.Error(
        absl::StrCat("bias '", *bias, "' is not supported; supported: none"));
  }
  const struct {
    const char* key;
    const char* what;
  } flags[] = {{"use_dora", "DoRA (use_dora: true)"},
               {"lora_bias", "LoRA bias terms (lora_bias: true)"},
               {"use_qalora", "QALoRA (use_qalora: true)"}};
  for (const auto& flag : flags) {
    ASSIGN_OR_RETURN(const bool on, fields.Bool(flag.key, false));
    if (on) {
      return fields.Error(absl::StrCat(flag.what, " is not supported"));
    }
  }
  // Each of these changes the forward pass (or the model) when set.
  for (const char* key :
       {"modules_to_save", "layer_replication", "target_parameters",
        "trainable_token_indices", "alora_invocation_tokens", "megatron_config",
        "use_bdlora", "arrow_config", "kasa_config", "monteclora_config"}) {
    const Json* value = fields.Find(key);
    if (!IsNullOrEmpty(value)) {
      return fields.Error(absl::StrCat("'", key, "' is not supported (got ",
                                       ShowJson(*value), ")"));
    }
  }
  const Json* pattern = fields.Find("layers_pattern");
  if (!IsNullOrEmpty(pattern) && *pattern != "layers" &&
      *pattern != Json::array({"layers"})) {
    return fields.Error(absl::StrCat("layers_pattern ", ShowJson(*pattern),
                                     " is not supported; Llama-family layers "
                                     "are 'layers'"));
  }
  return absl::OkStatus();
}

// target_modules / exclude_modules: a list of names, or one string that is
// a regex ("all-linear" for target_modules means all seven kinds).
absl::Status ReadModuleSelector(const JsonFields& fields, const char* key,
                                bool is_target, std::vector<std::string>& list,
                                std::optional<std::string>& regex) {
  const Json* value = fields.Find(key);
  if (value == nullptr) {
    return absl::OkStatus();
  }
  if (value->is_string()) {
    std::string text = value->get<std::string>();
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (is_target && lower == "all-linear") {
      for (int k = 0; k < kNumLinearKinds; ++k) {
        list.emplace_back(LinearKindName(static_cast<LinearKind>(k)));
      }
    } else {
      regex = std::move(text);
    }
    return absl::OkStatus();
  }
  if (!value->is_array()) {
    return fields.Error(absl::StrCat("'", key, "' must be a list or a string"));
  }
  for (const Json& entry : *value) {
    if (!entry.is_string()) {
      return fields.Error(absl::StrCat("'", key, "' entries must be strings"));
    }
    list.push_back(entry.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadTargets(const JsonFields& fields, LoraAdapterConfig& c) {
  if (fields.Find("target_modules") == nullptr) {
    // PEFT fills in its default for the model type: the same for Llama,
    // Mistral and Qwen2.
    c.target_modules_list = {"q_proj", "v_proj"};
  }
  RETURN_IF_ERROR(ReadModuleSelector(fields, "target_modules",
                                     /*is_target=*/true, c.target_modules_list,
                                     c.target_modules_regex));
  if (!c.target_modules_regex.has_value() && c.target_modules_list.empty()) {
    return fields.Error("'target_modules' is empty");
  }
  for (const std::string& name : c.target_modules_list) {
    // An entry may be a dotted path ending in a kind ("self_attn.q_proj").
    const size_t dot = name.rfind('.');
    const std::string leaf =
        dot == std::string::npos ? name : name.substr(dot + 1);
    if (!LinearKindFromName(leaf).has_value()) {
      return fields.Error(
          absl::StrCat("target module '", name,
                       "' is not supported; LoRA targets: ", AllTargetNames()));
    }
  }
  return ReadModuleSelector(fields, "exclude_modules", /*is_target=*/false,
                            c.exclude_modules_list, c.exclude_modules_regex);
}

absl::Status ReadLayersToTransform(const JsonFields& fields,
                                   LoraAdapterConfig& c) {
  const Json* value = fields.Find("layers_to_transform");
  if (value == nullptr) {
    return absl::OkStatus();
  }
  std::vector<int64_t> layers;
  const auto add = [&](const Json& element) -> absl::Status {
    const std::optional<int64_t> layer = JsonToInt64(element);
    if (!layer.has_value() || *layer < 0) {
      return fields.Error(
          "'layers_to_transform' must be a layer index or a "
          "list of layer indices");
    }
    layers.push_back(*layer);
    return absl::OkStatus();
  };
  if (value->is_array()) {
    for (const Json& element : *value) {
      RETURN_IF_ERROR(add(element));
    }
  } else {
    RETURN_IF_ERROR(add(*value));
  }
  if (!layers.empty()) {
    c.layers_to_transform = std::move(layers);
  }
  return absl::OkStatus();
}

absl::Status ReadPatterns(const JsonFields& fields, LoraAdapterConfig& c) {
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    const Json* patterns = fields.Find(key);
    if (patterns == nullptr) {
      continue;
    }
    if (!patterns->is_object()) {
      return fields.Error(absl::StrCat("'", key, "' must be an object"));
    }
    const bool is_rank = std::string(key) == "rank_pattern";
    for (const auto& item : patterns->items()) {
      const Json& value = item.value();
      const std::optional<int64_t> rank = JsonToInt64(value);
      if (is_rank &&
          (!rank.has_value() || *rank < 1 || *rank > kMaxConfigRank)) {
        return fields.Error(absl::StrCat("rank_pattern['", item.key(),
                                         "'] must be a positive integer"));
      }
      if (!is_rank && !value.is_number()) {
        return fields.Error(
            absl::StrCat("alpha_pattern['", item.key(), "'] must be a number"));
      }
      if (is_rank) {
        c.rank_pattern.emplace_back(item.key(), *rank);
      } else {
        c.alpha_pattern.emplace_back(item.key(), value.get<double>());
      }
    }
  }
  return absl::OkStatus();
}

// PEFT refuses to put LoRA on these (and LoRA on them would need weights
// Loraplex does not load).
absl::Status RefuseRegexOnOtherModules(const JsonFields& fields,
                                       const LoraAdapterConfig& c,
                                       const LoraModuleMatcher& matcher) {
  if (!c.target_modules_regex.has_value()) {
    return absl::OkStatus();
  }
  for (const char* other : {"lm_head", "model.embed_tokens", "model.norm"}) {
    if (matcher.Targets(other)) {
      return fields.Error(absl::StrCat(
          "target_modules regex '", *c.target_modules_regex, "' matches '",
          other,
          "', which is not supported; LoRA targets: ", AllTargetNames()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoraAdapterConfig> ParseLoraAdapterConfig(
    std::string_view text) {
  ASSIGN_OR_RETURN(const Json json, ParseJsonObject(text, kConfigFile));
  const JsonFields fields(json, kConfigFile);
  LoraAdapterConfig c;
  ASSIGN_OR_RETURN(std::optional<std::string> peft_type,
                   fields.OptionalString("peft_type"));
  if (peft_type.has_value() && *peft_type != "LORA") {
    return fields.Error(absl::StrCat("peft_type '", *peft_type,
                                     "' is not supported; supported: LORA"));
  }
  ASSIGN_OR_RETURN(c.r, fields.RequiredInt("r", 1, kMaxConfigRank));
  ASSIGN_OR_RETURN(c.lora_alpha,
                   fields.Number("lora_alpha", 8.0));  // PEFT's default
  ASSIGN_OR_RETURN(c.use_rslora, fields.Bool("use_rslora", false));
  ASSIGN_OR_RETURN(c.fan_in_fan_out, fields.Bool("fan_in_fan_out", false));
  RETURN_IF_ERROR(RefuseUnsupportedFeatures(fields));
  RETURN_IF_ERROR(ReadTargets(fields, c));
  RETURN_IF_ERROR(ReadLayersToTransform(fields, c));
  RETURN_IF_ERROR(ReadPatterns(fields, c));
  ASSIGN_OR_RETURN(std::optional<std::string> base,
                   fields.OptionalString("base_model_name_or_path"));
  c.base_model_name_or_path = base.value_or("");
  absl::StatusOr<LoraModuleMatcher> matcher = LoraModuleMatcher::Create(c);
  if (!matcher.ok()) {
    return fields.Error(matcher.status().message());
  }
  RETURN_IF_ERROR(RefuseRegexOnOtherModules(fields, c, *matcher));
  return c;
}

LoraModuleSpec ResolveLoraModule(const LoraAdapterConfig& config, int64_t layer,
                                 LinearKind kind) {
  absl::StatusOr<LoraModuleMatcher> matcher = LoraModuleMatcher::Create(config);
  if (!matcher.ok()) {
    return LoraModuleSpec{};  // Parse refuses such configs.
  }
  return matcher->Resolve(layer, kind);
}

}  // namespace loraplex::engine
