#include "engine/config/json_fields.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace loraplex::engine {

absl::StatusOr<Json> ParseJsonObject(std::string_view text,
                                     absl::string_view label,
                                     const JsonLimits& limits) {
  ASSIGN_OR_RETURN(Json value, ParseBoundedJson<Json>(text, label, limits));
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": not a JSON object"));
  }
  return value;
}

std::optional<int64_t> JsonToInt64(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) {
    return value.get<int64_t>();
  }
  return std::nullopt;
}

std::string ShowJson(const Json& value) {
  std::string text =
      value.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
  if (text.size() > 80) {
    text = absl::StrCat(text.substr(0, 77), "...");
  }
  return text;
}

const Json* JsonFields::Find(const char* key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

absl::Status JsonFields::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(label_, ": ", what));
}

absl::StatusOr<std::optional<int64_t>> JsonFields::OptionalInt(
    const char* key, int64_t min, int64_t max) const {
  const Json* value = Find(key);
  if (value == nullptr) {
    return std::optional<int64_t>();
  }
  const std::optional<int64_t> v = JsonToInt64(*value);
  if (!v.has_value() || *v < min || *v > max) {
    return Error(absl::StrCat("'", key, "' must be an integer in [", min, ", ",
                              max, "] (got ", ShowJson(*value), ")"));
  }
  return v;
}

absl::StatusOr<int64_t> JsonFields::RequiredInt(const char* key, int64_t min,
                                                int64_t max) const {
  absl::StatusOr<std::optional<int64_t>> v = OptionalInt(key, min, max);
  if (!v.ok()) {
    return v.status();
  }
  if (!v->has_value()) {
    return Error(absl::StrCat("missing '", key, "'"));
  }
  return **v;
}

absl::StatusOr<double> JsonFields::Number(const char* key,
                                          double fallback) const {
  const Json* value = Find(key);
  if (value == nullptr) {
    return fallback;
  }
  if (!value->is_number() || !std::isfinite(value->get<double>())) {
    return Error(absl::StrCat("'", key, "' must be a number (got ",
                              ShowJson(*value), ")"));
  }
  return value->get<double>();
}

absl::StatusOr<bool> JsonFields::Bool(const char* key, bool fallback) const {
  const Json* value = Find(key);
  if (value == nullptr) {
    return fallback;
  }
  if (!value->is_boolean()) {
    return Error(absl::StrCat("'", key, "' must be true or false (got ",
                              ShowJson(*value), ")"));
  }
  return value->get<bool>();
}

absl::StatusOr<std::optional<std::string>> JsonFields::OptionalString(
    const char* key) const {
  const Json* value = Find(key);
  if (value == nullptr) {
    return std::optional<std::string>();
  }
  if (!value->is_string()) {
    return Error(absl::StrCat("'", key, "' must be a string (got ",
                              ShowJson(*value), ")"));
  }
  return value->get<std::string>();
}

}  // namespace loraplex::engine
