#include "engine/train/model_spec.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

using Json = nlohmann::ordered_json;

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {"hidden_size",
                                             "intermediate_size",
                                             "num_hidden_layers",
                                             "num_attention_heads",
                                             "num_key_value_heads",
                                             "head_dim",
                                             "max_position_embeddings",
                                             "rope_theta",
                                             "rms_norm_eps",
                                             "tie_word_embeddings",
                                             "initializer_range",
                                             "vocab_size"};
  return keys;
}

absl::StatusOr<int64_t> PositiveInt(const Json& spec, const char* key,
                                    std::optional<int64_t> fallback) {
  if (!spec.contains(key)) {
    if (fallback) return *fallback;
    return absl::InvalidArgumentError(
        absl::StrCat("model spec: missing required field '", key, "'"));
  }
  const Json& value = spec.at(key);
  if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model spec: '", key, "' must be a positive integer, got ",
                     value.dump()));
  }
  return value.get<int64_t>();
}

absl::StatusOr<double> PositiveNumber(const Json& spec, const char* key,
                                      double fallback) {
  if (!spec.contains(key)) return fallback;
  const Json& value = spec.at(key);
  if (!value.is_number() || value.get<double>() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model spec: '", key, "' must be a positive number, got ",
                     value.dump()));
  }
  return value.get<double>();
}

absl::Status CheckShape(const ModelConfig& c) {
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model spec: num_attention_heads (", c.num_attention_heads,
                     ") must be a multiple of num_key_value_heads (",
                     c.num_key_value_heads, ")"));
  }
  if (c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model spec: head_dim (", c.head_dim, ") must be even for RoPE"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelSpec> ParseSpecObject(const Json& json, int64_t vocab_size,
                                          int32_t bos_id, int32_t eos_id) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("model spec: expected a JSON object");
  }
  for (const auto& item : json.items()) {
    if (!KnownKeys().count(item.key())) {
      return absl::InvalidArgumentError(
          absl::StrCat("model spec: unknown field '", item.key(),
                       "' (known: ", absl::StrJoin(KnownKeys(), ", "), ")"));
    }
  }
  ModelSpec spec;
  ModelConfig& c = spec.config;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.torch_dtype = "float32";
  c.vocab_size = vocab_size;
  if (json.contains("vocab_size")) {
    ASSIGN_OR_RETURN(const int64_t given,
                     PositiveInt(json, "vocab_size", std::nullopt));
    if (given != vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model spec: vocab_size ", given, " differs from the tokenizer's ",
          vocab_size, " (leave it out to use the tokenizer's)"));
    }
  }
  ASSIGN_OR_RETURN(c.hidden_size,
                   PositiveInt(json, "hidden_size", std::nullopt));
  ASSIGN_OR_RETURN(c.intermediate_size,
                   PositiveInt(json, "intermediate_size", std::nullopt));
  ASSIGN_OR_RETURN(c.num_hidden_layers,
                   PositiveInt(json, "num_hidden_layers", std::nullopt));
  ASSIGN_OR_RETURN(c.num_attention_heads,
                   PositiveInt(json, "num_attention_heads", std::nullopt));
  ASSIGN_OR_RETURN(
      c.num_key_value_heads,
      PositiveInt(json, "num_key_value_heads", c.num_attention_heads));
  if (!json.contains("head_dim") &&
      c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model spec: hidden_size (", c.hidden_size,
                     ") is not a multiple of num_attention_heads (",
                     c.num_attention_heads, "); give head_dim explicitly"));
  }
  ASSIGN_OR_RETURN(
      c.head_dim,
      PositiveInt(json, "head_dim", c.hidden_size / c.num_attention_heads));
  ASSIGN_OR_RETURN(c.max_position_embeddings,
                   PositiveInt(json, "max_position_embeddings", 2048));
  ASSIGN_OR_RETURN(c.rope_theta, PositiveNumber(json, "rope_theta", 10000.0));
  ASSIGN_OR_RETURN(c.rms_norm_eps, PositiveNumber(json, "rms_norm_eps", 1e-5));
  ASSIGN_OR_RETURN(spec.initializer_range,
                   PositiveNumber(json, "initializer_range", 0.02));
  if (json.contains("tie_word_embeddings")) {
    if (!json.at("tie_word_embeddings").is_boolean()) {
      return absl::InvalidArgumentError(
          "model spec: 'tie_word_embeddings' must be true or false");
    }
    c.tie_word_embeddings = json.at("tie_word_embeddings").get<bool>();
  } else {
    c.tie_word_embeddings = true;
  }
  c.bos_token_id = bos_id;
  c.eos_token_ids = {eos_id};
  if (absl::Status shape = CheckShape(c); !shape.ok()) return shape;
  return spec;
}

}  // namespace

absl::StatusOr<ModelSpec> ParseModelSpec(std::string_view json,
                                         int64_t vocab_size, int32_t bos_id,
                                         int32_t eos_id) {
  Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("model spec: not valid JSON");
  }
  return ParseSpecObject(parsed, vocab_size, bos_id, eos_id);
}

std::string HfConfigJson(const ModelConfig& c, double initializer_range) {
  const int32_t eos = c.eos_token_ids.empty() ? 0 : c.eos_token_ids.front();
  Json config = {{"architectures", {"LlamaForCausalLM"}},
                 {"attention_bias", false},
                 {"attention_dropout", 0.0},
                 {"bos_token_id", c.bos_token_id.value_or(0)},
                 {"dtype", "float32"},
                 {"eos_token_id", eos},
                 {"head_dim", c.head_dim},
                 {"hidden_act", "silu"},
                 {"hidden_size", c.hidden_size},
                 {"initializer_range", initializer_range},
                 {"intermediate_size", c.intermediate_size},
                 {"max_position_embeddings", c.max_position_embeddings},
                 {"mlp_bias", false},
                 {"model_type", "llama"},
                 {"num_attention_heads", c.num_attention_heads},
                 {"num_hidden_layers", c.num_hidden_layers},
                 {"num_key_value_heads", c.num_key_value_heads},
                 {"pad_token_id", nullptr},
                 {"pretraining_tp", 1},
                 {"rms_norm_eps", c.rms_norm_eps},
                 {"rope_parameters",
                  {{"rope_theta", c.rope_theta}, {"rope_type", "default"}}},
                 {"rope_scaling", nullptr},
                 {"rope_theta", c.rope_theta},
                 {"tie_word_embeddings", c.tie_word_embeddings},
                 {"torch_dtype", "float32"},
                 {"use_cache", true},
                 {"vocab_size", c.vocab_size}};
  return config.dump(2) + "\n";
}

std::string HfGenerationConfigJson(const ModelConfig& c) {
  const int32_t eos = c.eos_token_ids.empty() ? 0 : c.eos_token_ids.front();
  Json config = {{"bos_token_id", c.bos_token_id.value_or(0)},
                 {"eos_token_id", eos}};
  return config.dump(2) + "\n";
}

}  // namespace loraplex::engine
