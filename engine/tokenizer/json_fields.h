// Typed field access for tokenizer JSON files, with errors that name the
// field's path (e.g. "model.vocab") instead of throwing.
#ifndef LORAPLEX_ENGINE_TOKENIZER_JSON_FIELDS_H_
#define LORAPLEX_ENGINE_TOKENIZER_JSON_FIELDS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/bounded_json.h"
#include "engine/common/status_macros.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine::json_fields {

// Parses `text` under `limits` (engine/common/bounded_json.h);
// INVALID_ARGUMENT "<what>: ..." (e.g. "tokenizer.json: not valid JSON ...")
// when it is over the limits, not JSON or repeats a key.
absl::StatusOr<nlohmann::json> Parse(std::string_view text,
                                     absl::string_view what,
                                     const JsonLimits& limits);

// The member `key` of `object` (which must be a JSON object); `path` names
// `object` in messages. INVALID_ARGUMENT when `object` is not an object or
// `key` is missing.
absl::StatusOr<const nlohmann::json*> Required(const nlohmann::json& object,
                                               absl::string_view key,
                                               absl::string_view path);

// The member, or null when it is missing or JSON null.
const nlohmann::json* Optional(const nlohmann::json& object,
                               absl::string_view key);

absl::StatusOr<std::string> RequiredString(const nlohmann::json& object,
                                           absl::string_view key,
                                           absl::string_view path);
// `fallback` when missing or null; INVALID_ARGUMENT when of another type.
absl::StatusOr<std::string> OptionalString(const nlohmann::json& object,
                                           absl::string_view key,
                                           absl::string_view path,
                                           std::string fallback);
absl::StatusOr<bool> OptionalBool(const nlohmann::json& object,
                                  absl::string_view key, absl::string_view path,
                                  bool fallback);
// Missing or null stays empty.
absl::StatusOr<std::optional<bool>> MaybeBool(const nlohmann::json& object,
                                              absl::string_view key,
                                              absl::string_view path);
absl::StatusOr<int64_t> OptionalInt(const nlohmann::json& object,
                                    absl::string_view key,
                                    absl::string_view path, int64_t fallback);

// "a.b" (or "b" when `path` is empty), for messages.
std::string Join(absl::string_view path, absl::string_view key);

// The components of a `Sequence` normalizer, pre-tokenizer or decoder: the
// array under `key`, each element parsed by
// `parse(element, "<path>.<key>[i]")`, which returns
// absl::StatusOr<std::unique_ptr<Component>>.
template <typename Component, typename ParseFn>
absl::StatusOr<std::vector<std::unique_ptr<Component>>> ParseList(
    const nlohmann::json& object, absl::string_view key, absl::string_view path,
    ParseFn parse) {
  ASSIGN_OR_RETURN(const nlohmann::json* list, Required(object, key, path));
  if (!list->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", key, " must be a list"));
  }
  std::vector<std::unique_ptr<Component>> steps;
  for (size_t i = 0; i < list->size(); ++i) {
    ASSIGN_OR_RETURN(
        std::unique_ptr<Component> step,
        parse((*list)[i], absl::StrCat(path, ".", key, "[", i, "]")));
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace loraplex::engine::json_fields

#endif  // LORAPLEX_ENGINE_TOKENIZER_JSON_FIELDS_H_
