#include "engine/config/model_config.h"

#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/read_text_file.h"
#include "engine/common/status_macros.h"
#include "engine/config/json_fields.h"
#include "engine/config/rope_config.h"

namespace loraplex::engine {
namespace {

constexpr char kConfigFile[] = "config.json";
constexpr char kGenerationConfigFile[] = "generation_config.json";

// Token ids are int32 and the engine indexes with int64 products of these
// sizes: bounding each by 2^31 - 1 keeps every product in range.
constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max();

struct Architecture {
  const char* name;
  const char* model_type;
  int64_t default_max_position_embeddings;  // transformers' default
};

constexpr Architecture kArchitectures[] = {
    {"LlamaForCausalLM", "llama", 2048},
    {"MistralForCausalLM", "mistral", 4096 * 32},
    {"Qwen2ForCausalLM", "qwen2", 32768},
};

std::string SupportedNames(bool model_types) {
  std::vector<std::string> names;
  for (const Architecture& a : kArchitectures) {
    names.push_back(model_types ? a.model_type : a.name);
  }
  return absl::StrJoin(names, ", ");
}

// architectures[0] when present, else model_type; the two must agree.
absl::StatusOr<const Architecture*> ResolveArchitecture(
    const JsonFields& fields) {
  ASSIGN_OR_RETURN(std::optional<std::string> model_type,
                   fields.OptionalString("model_type"));
  const Json* architectures = fields.Find("architectures");
  if (architectures != nullptr &&
      (!architectures->is_array() || architectures->empty() ||
       !(*architectures)[0].is_string())) {
    return fields.Error("'architectures' must be a non-empty list of strings");
  }
  const Architecture* found = nullptr;
  if (architectures != nullptr) {
    const std::string name = (*architectures)[0].get<std::string>();
    for (const Architecture& a : kArchitectures) {
      if (name == a.name) {
        found = &a;
      }
    }
    if (found == nullptr) {
      return fields.Error(absl::StrCat(
          "architecture ", name,
          " is not supported; supported: ", SupportedNames(false)));
    }
  } else if (model_type.has_value()) {
    for (const Architecture& a : kArchitectures) {
      if (*model_type == a.model_type) {
        found = &a;
      }
    }
    if (found == nullptr) {
      return fields.Error(absl::StrCat(
          "model_type '", *model_type,
          "' is not supported; supported: ", SupportedNames(true)));
    }
  } else {
    return fields.Error(
        "names no architecture ('architectures' or 'model_type')");
  }
  if (model_type.has_value() && *model_type != found->model_type) {
    return fields.Error(absl::StrCat("model_type '", *model_type,
                                     "' does not match architecture ",
                                     found->name));
  }
  return found;
}

absl::Status ParseSizes(const JsonFields& fields, const Architecture& arch,
                        ModelConfig& c) {
  ASSIGN_OR_RETURN(c.vocab_size, fields.RequiredInt("vocab_size", 1, kMaxSize));
  ASSIGN_OR_RETURN(c.hidden_size,
                   fields.RequiredInt("hidden_size", 1, kMaxSize));
  ASSIGN_OR_RETURN(c.intermediate_size,
                   fields.RequiredInt("intermediate_size", 1, kMaxSize));
  ASSIGN_OR_RETURN(c.num_hidden_layers,
                   fields.RequiredInt("num_hidden_layers", 1, kMaxSize));
  ASSIGN_OR_RETURN(c.num_attention_heads,
                   fields.RequiredInt("num_attention_heads", 1, kMaxSize));
  ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads,
                   fields.OptionalInt("num_key_value_heads", 1, kMaxSize));
  c.num_key_value_heads = kv_heads.value_or(c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return fields.Error(
        absl::StrCat("num_attention_heads (", c.num_attention_heads,
                     ") must be a multiple of num_key_value_heads (",
                     c.num_key_value_heads, ")"));
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> head_dim,
                   fields.OptionalInt("head_dim", 1, kMaxSize));
  if (head_dim.has_value()) {
    c.head_dim = *head_dim;
  } else if (c.hidden_size % c.num_attention_heads != 0) {
    return fields.Error(absl::StrCat("hidden_size (", c.hidden_size,
                                     ") is not a multiple of "
                                     "num_attention_heads (",
                                     c.num_attention_heads,
                                     ") and no head_dim is given"));
  } else {
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) {
    return fields.Error(absl::StrCat("head_dim (", c.head_dim,
                                     ") must be even for rotary embeddings"));
  }
  if (c.num_attention_heads * c.head_dim > kMaxSize) {
    return fields.Error("num_attention_heads * head_dim is too large");
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> max_positions,
                   fields.OptionalInt("max_position_embeddings", 1, kMaxSize));
  c.max_position_embeddings =
      max_positions.value_or(arch.default_max_position_embeddings);
  ASSIGN_OR_RETURN(c.rms_norm_eps, fields.Number("rms_norm_eps", 1e-6));
  if (!(c.rms_norm_eps > 0)) {
    return fields.Error("'rms_norm_eps' must be positive");
  }
  return absl::OkStatus();
}

// Biases, attention window and activation: what differs between the three
// architectures beyond their sizes.
absl::Status ParseVariant(const JsonFields& fields, ModelConfig& c) {
  ASSIGN_OR_RETURN(std::optional<std::string> act,
                   fields.OptionalString("hidden_act"));
  if (act.has_value() && *act != "silu") {
    return fields.Error(absl::StrCat("hidden_act '", *act,
                                     "' is not supported; supported: silu"));
  }
  ASSIGN_OR_RETURN(c.tie_word_embeddings,
                   fields.Bool("tie_word_embeddings", false));
  if (c.model_type == "llama") {
    ASSIGN_OR_RETURN(const bool attention_bias,
                     fields.Bool("attention_bias", false));
    c.qkv_bias = c.o_bias = attention_bias;
    ASSIGN_OR_RETURN(c.mlp_bias, fields.Bool("mlp_bias", false));
  } else if (c.model_type == "mistral") {
    ASSIGN_OR_RETURN(c.sliding_window,
                     fields.OptionalInt("sliding_window", 1, kMaxSize));
  } else {  // qwen2: biased q/k/v, sliding window only if switched on
    c.qkv_bias = true;
    ASSIGN_OR_RETURN(const bool sliding,
                     fields.Bool("use_sliding_window", false));
    if (sliding) {
      return fields.Error(
          "use_sliding_window: true (Qwen2 sliding-window "
          "attention) is not supported");
    }
    const Json* layer_types = fields.Find("layer_types");
    if (layer_types != nullptr) {
      if (!layer_types->is_array()) {
        return fields.Error("'layer_types' must be a list");
      }
      for (const Json& type : *layer_types) {
        if (type != "full_attention") {
          return fields.Error(absl::StrCat("layer type ", ShowJson(type),
                                           " is not supported; supported: "
                                           "full_attention"));
        }
      }
    }
  }
  ASSIGN_OR_RETURN(const double partial,
                   fields.Number("partial_rotary_factor", 1.0));
  if (partial != 1.0) {
    return fields.Error("partial_rotary_factor other than 1 is not supported");
  }
  return absl::OkStatus();
}

// A token id field: an id, a list of ids, or null. nullopt when absent/null.
absl::StatusOr<std::optional<std::vector<int32_t>>> TokenIds(
    const JsonFields& fields, const char* key, int64_t vocab_size) {
  const Json* value = fields.Find(key);
  if (value == nullptr) {
    return std::optional<std::vector<int32_t>>();
  }
  std::vector<int32_t> ids;
  const auto add = [&](const Json& element) -> absl::Status {
    const std::optional<int64_t> id = JsonToInt64(element);
    if (!id.has_value()) {
      return fields.Error(
          absl::StrCat("'", key,
                       "' must be a token id or a list of token "
                       "ids (got ",
                       ShowJson(*value), ")"));
    }
    if (*id < 0 || *id >= vocab_size) {
      return fields.Error(absl::StrCat(
          "'", key, "' ", *id, " is outside the vocabulary (vocab_size ",
          vocab_size, ")"));
    }
    ids.push_back(static_cast<int32_t>(*id));
    return absl::OkStatus();
  };
  if (value->is_array()) {
    for (const Json& element : *value) {
      RETURN_IF_ERROR(add(element));
    }
  } else {
    RETURN_IF_ERROR(add(*value));
  }
  return std::optional<std::vector<int32_t>>(std::move(ids));
}

// bos/pad hold one id; a one-element list is accepted.
absl::StatusOr<std::optional<int32_t>> SingleTokenId(const JsonFields& fields,
                                                     const char* key,
                                                     int64_t vocab_size) {
  ASSIGN_OR_RETURN(auto ids, TokenIds(fields, key, vocab_size));
  if (!ids.has_value() || ids->empty()) {
    return std::optional<int32_t>();
  }
  if (ids->size() > 1) {
    return fields.Error(absl::StrCat("'", key, "' must be a single token id"));
  }
  return std::optional<int32_t>(ids->front());
}

absl::Status ParseSpecialTokens(const JsonFields& fields, ModelConfig& c) {
  ASSIGN_OR_RETURN(c.bos_token_id,
                   SingleTokenId(fields, "bos_token_id", c.vocab_size));
  ASSIGN_OR_RETURN(auto eos, TokenIds(fields, "eos_token_id", c.vocab_size));
  c.eos_token_ids = eos.value_or(std::vector<int32_t>());
  // Some Llama checkpoints write pad_token_id -1 for "none"; pad is never
  // generated, so that reads as absent.
  const Json* pad = fields.Find("pad_token_id");
  if (pad == nullptr || JsonToInt64(*pad).value_or(0) >= 0) {
    ASSIGN_OR_RETURN(c.pad_token_id,
                     SingleTokenId(fields, "pad_token_id", c.vocab_size));
  }
  for (const char* key : {"dtype", "torch_dtype"}) {
    const Json* dtype = fields.Find(key);
    if (dtype != nullptr && dtype->is_string()) {
      c.torch_dtype = dtype->get<std::string>();
      break;
    }
  }
  return absl::OkStatus();
}

// generation_config.json's eos/bos, when set, override config.json's.
absl::Status ApplyGenerationConfig(std::string_view text, ModelConfig& c) {
  ASSIGN_OR_RETURN(const Json json,
                   ParseJsonObject(text, kGenerationConfigFile));
  const JsonFields fields(json, kGenerationConfigFile);
  ASSIGN_OR_RETURN(auto eos, TokenIds(fields, "eos_token_id", c.vocab_size));
  if (eos.has_value()) {
    c.eos_token_ids = *std::move(eos);
  }
  ASSIGN_OR_RETURN(auto bos,
                   SingleTokenId(fields, "bos_token_id", c.vocab_size));
  if (bos.has_value()) {
    c.bos_token_id = bos;
  }
  return absl::OkStatus();
}

std::string JoinPath(const std::string& dir, absl::string_view name) {
  if (dir.empty() || dir.back() == '/') {
    return absl::StrCat(dir, name);
  }
  return absl::StrCat(dir, "/", name);
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(
    std::string_view config_json, std::string_view generation_config_json) {
  ASSIGN_OR_RETURN(const Json json, ParseJsonObject(config_json, kConfigFile));
  const JsonFields fields(json, kConfigFile);
  ModelConfig c;
  ASSIGN_OR_RETURN(const Architecture* arch, ResolveArchitecture(fields));
  c.architecture = arch->name;
  c.model_type = arch->model_type;
  if (const Json* quantization = fields.Find("quantization_config")) {
    std::string method;
    if (quantization->is_object() && quantization->contains("quant_method")) {
      method = absl::StrCat(" with quant_method ",
                            ShowJson((*quantization)["quant_method"]));
    }
    return fields.Error(
        absl::StrCat("quantized checkpoints (quantization_config", method,
                     ") are not supported"));
  }
  RETURN_IF_ERROR(ParseSizes(fields, *arch, c));
  RETURN_IF_ERROR(ParseRopeConfig(fields, c));
  RETURN_IF_ERROR(ParseVariant(fields, c));
  RETURN_IF_ERROR(ParseSpecialTokens(fields, c));
  if (!generation_config_json.empty()) {
    RETURN_IF_ERROR(ApplyGenerationConfig(generation_config_json, c));
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  ASSIGN_OR_RETURN(const std::string config,
                   ReadTextFile(JoinPath(model_dir, kConfigFile),
                                kConfigJsonLimits.max_bytes));
  std::string generation;
  absl::StatusOr<std::string> read = ReadTextFile(
      JoinPath(model_dir, kGenerationConfigFile), kConfigJsonLimits.max_bytes);
  if (read.ok()) {
    generation = *std::move(read);
  } else if (!absl::IsNotFound(read.status())) {
    return read.status();
  }
  absl::StatusOr<ModelConfig> parsed = ParseModelConfig(config, generation);
  if (!parsed.ok()) {
    // Messages start with the file name; make it the file's path.
    return absl::Status(parsed.status().code(),
                        JoinPath(model_dir, parsed.status().message()));
  }
  return parsed;
}

}  // namespace loraplex::engine
