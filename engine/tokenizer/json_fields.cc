#include "engine/tokenizer/json_fields.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace loraplex::engine::json_fields {
namespace {

absl::Status WrongType(absl::string_view path, absl::string_view key,
                       absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(Join(path, key), " must be ", expected));
}

}  // namespace

std::string Join(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

absl::StatusOr<nlohmann::json> Parse(std::string_view text,
                                     absl::string_view what,
                                     const JsonLimits& limits) {
  return ParseBoundedJson<nlohmann::json>(text, what, limits);
}

absl::StatusOr<const nlohmann::json*> Required(const nlohmann::json& object,
                                               absl::string_view key,
                                               absl::string_view path) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.empty() ? std::string("the document") : std::string(path),
        " must be a JSON object"));
  }
  const auto it = object.find(std::string(key));
  if (it == object.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Join(path, key), " is missing"));
  }
  return &*it;
}

const nlohmann::json* Optional(const nlohmann::json& object,
                               absl::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::string> RequiredString(const nlohmann::json& object,
                                           absl::string_view key,
                                           absl::string_view path) {
  absl::StatusOr<const nlohmann::json*> value = Required(object, key, path);
  if (!value.ok()) return value.status();
  if (!(*value)->is_string()) return WrongType(path, key, "a string");
  return (*value)->get<std::string>();
}

absl::StatusOr<std::string> OptionalString(const nlohmann::json& object,
                                           absl::string_view key,
                                           absl::string_view path,
                                           std::string fallback) {
  const nlohmann::json* value = Optional(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) return WrongType(path, key, "a string");
  return value->get<std::string>();
}

absl::StatusOr<bool> OptionalBool(const nlohmann::json& object,
                                  absl::string_view key, absl::string_view path,
                                  bool fallback) {
  const nlohmann::json* value = Optional(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) return WrongType(path, key, "true or false");
  return value->get<bool>();
}

absl::StatusOr<std::optional<bool>> MaybeBool(const nlohmann::json& object,
                                              absl::string_view key,
                                              absl::string_view path) {
  const nlohmann::json* value = Optional(object, key);
  if (value == nullptr) return std::optional<bool>();
  if (!value->is_boolean()) return WrongType(path, key, "true or false");
  return std::optional<bool>(value->get<bool>());
}

absl::StatusOr<int64_t> OptionalInt(const nlohmann::json& object,
                                    absl::string_view key,
                                    absl::string_view path, int64_t fallback) {
  const nlohmann::json* value = Optional(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer()) return WrongType(path, key, "an integer");
  return value->get<int64_t>();
}

}  // namespace loraplex::engine::json_fields
