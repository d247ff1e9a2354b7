#include "engine/config/rope_config.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace loraplex::engine {
namespace {

absl::StatusOr<double> RequiredPositiveNumber(const JsonFields& fields,
                                              const char* key) {
  ASSIGN_OR_RETURN(
      const double value,
      fields.Number(key, std::numeric_limits<double>::quiet_NaN()));
  if (std::isnan(value)) {
    return fields.Error(absl::StrCat("missing '", key, "'"));
  }
  if (value <= 0) {
    return fields.Error(absl::StrCat("'", key, "' must be positive"));
  }
  return value;
}

// "rope_type" (transformers >= 4.45) or "type" (older); "default" if absent.
absl::StatusOr<std::string> RopeType(const JsonFields& rope) {
  for (const char* key : {"rope_type", "type"}) {
    ASSIGN_OR_RETURN(std::optional<std::string> type, rope.OptionalString(key));
    if (type.has_value()) {
      return *type;
    }
  }
  return std::string("default");
}

absl::Status ParseLlama3(const JsonFields& rope, RopeScaling& scaling) {
  scaling.type = RopeScalingType::kLlama3;
  ASSIGN_OR_RETURN(scaling.factor, RequiredPositiveNumber(rope, "factor"));
  ASSIGN_OR_RETURN(scaling.low_freq_factor,
                   RequiredPositiveNumber(rope, "low_freq_factor"));
  ASSIGN_OR_RETURN(scaling.high_freq_factor,
                   RequiredPositiveNumber(rope, "high_freq_factor"));
  ASSIGN_OR_RETURN(const int64_t original,
                   rope.RequiredInt("original_max_position_embeddings", 1));
  scaling.original_max_position_embeddings = original;
  // The smoothing between the two bands divides by their difference.
  if (scaling.high_freq_factor <= scaling.low_freq_factor) {
    return rope.Error(
        "llama3 scaling needs high_freq_factor > low_freq_factor");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseRopeConfig(const JsonFields& fields, ModelConfig& config) {
  ASSIGN_OR_RETURN(config.rope_theta, fields.Number("rope_theta", 10000.0));
  config.rope_scaling = RopeScaling{};
  const char* section_key = fields.Find("rope_parameters") != nullptr
                                ? "rope_parameters"
                                : "rope_scaling";
  const Json* section = fields.Find(section_key);
  if (section != nullptr) {
    if (!section->is_object()) {
      return fields.Error(
          absl::StrCat("'", section_key, "' must be an object"));
    }
    const JsonFields rope(*section,
                          absl::StrCat(fields.label(), ": ", section_key));
    for (const auto& item : section->items()) {
      if (item.value().is_object()) {  // {"full_attention": {...}, ...}
        return rope.Error("RoPE parameters per layer type are not supported");
      }
    }
    ASSIGN_OR_RETURN(config.rope_theta,
                     rope.Number("rope_theta", config.rope_theta));
    ASSIGN_OR_RETURN(const double partial,
                     rope.Number("partial_rotary_factor", 1.0));
    if (partial != 1.0) {
      return rope.Error("partial_rotary_factor other than 1 is not supported");
    }
    ASSIGN_OR_RETURN(const std::string type, RopeType(rope));
    if (type == "linear") {
      config.rope_scaling.type = RopeScalingType::kLinear;
      ASSIGN_OR_RETURN(config.rope_scaling.factor,
                       RequiredPositiveNumber(rope, "factor"));
    } else if (type == "llama3") {
      RETURN_IF_ERROR(ParseLlama3(rope, config.rope_scaling));
    } else if (type != "default") {
      return rope.Error(absl::StrCat("rope_type '", type,
                                     "' is not supported; supported: default, "
                                     "linear, llama3"));
    }
  }
  if (!(config.rope_theta > 0)) {
    return fields.Error("'rope_theta' must be positive");
  }
  return absl::OkStatus();
}

}  // namespace loraplex::engine
