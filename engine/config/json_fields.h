// Typed, non-throwing access to the fields of a JSON object read from a
// config file (config.json, adapter_config.json, ...). nlohmann's accessors
// throw on a type mismatch; these check the type first and return
// INVALID_ARGUMENT errors of the form "<label>: '<field>' must be ...".
#ifndef LORAPLEX_ENGINE_CONFIG_JSON_FIELDS_H_
#define LORAPLEX_ENGINE_CONFIG_JSON_FIELDS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/common/bounded_json.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {

// Keeps keys in file order (PEFT's rank_pattern is first-match-wins).
using Json = nlohmann::ordered_json;

// Config files are small: config.json, generation_config.json and
// adapter_config.json are refused over 1 MiB or nested deeper than 64
// levels (Note [Bounded JSON] in engine/common/bounded_json.h); real ones
// are a few kilobytes and nest 3 levels at most.
inline constexpr JsonLimits kConfigJsonLimits{/*max_bytes=*/1 << 20,
                                              /*max_depth=*/64};

// Parses `text` as a JSON object under `limits` (ParseBoundedJson).
// INVALID_ARGUMENT "<label>: ..." if it is over the limits, not valid JSON,
// repeats a key or is not an object.
absl::StatusOr<Json> ParseJsonObject(
    std::string_view text, absl::string_view label,
    const JsonLimits& limits = kConfigJsonLimits);

// One JSON object and the label its errors start with. The object must
// outlive this view.
class JsonFields {
 public:
  JsonFields(const Json& object, std::string label)
      : object_(object), label_(std::move(label)) {}

  const std::string& label() const { return label_; }

  // The field's value, or nullptr when it is absent or null (the configs
  // Loraplex reads treat the two alike).
  const Json* Find(const char* key) const;

  // INVALID_ARGUMENT "<label>: <what>".
  absl::Status Error(absl::string_view what) const;

  // An integer in [min, max]: nullopt when absent or null.
  absl::StatusOr<std::optional<int64_t>> OptionalInt(
      const char* key, int64_t min,
      int64_t max = std::numeric_limits<int64_t>::max()) const;
  // Like OptionalInt, but absence is an error ("missing '<key>'").
  absl::StatusOr<int64_t> RequiredInt(
      const char* key, int64_t min,
      int64_t max = std::numeric_limits<int64_t>::max()) const;
  // A finite number (integer or not); `fallback` when absent or null.
  absl::StatusOr<double> Number(const char* key, double fallback) const;
  absl::StatusOr<bool> Bool(const char* key, bool fallback) const;
  // A string; nullopt when absent or null.
  absl::StatusOr<std::optional<std::string>> OptionalString(
      const char* key) const;

 private:
  const Json& object_;
  std::string label_;
};

// `value` as an int64_t when it is a JSON integer that fits; else nullopt.
std::optional<int64_t> JsonToInt64(const Json& value);

// `value` as JSON text for an error message, cut to about 80 characters.
// Never throws.
std::string ShowJson(const Json& value);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_CONFIG_JSON_FIELDS_H_
