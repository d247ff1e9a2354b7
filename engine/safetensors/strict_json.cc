#include "engine/safetensors/strict_json.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace loraplex::engine {

absl::StatusOr<nlohmann::json> ParseJsonRejectingDuplicateKeys(
    std::string_view text, absl::string_view what) {
  using json = nlohmann::json;
  // One key set per object currently open, innermost last.
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  json::parser_callback_t callback =
      [&](int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
          case json::parse_event_t::object_start:
            open_objects.emplace_back();
            break;
          case json::parse_event_t::object_end:
            if (!open_objects.empty()) {
              open_objects.pop_back();
            }
            break;
          case json::parse_event_t::key:
            if (!open_objects.empty() && parsed.is_string() &&
                !open_objects.back().insert(parsed.get<std::string>()).second &&
                !duplicate.has_value()) {
              duplicate = parsed.get<std::string>();
            }
            break;
          default:
            break;
        }
        return true;
      };
  json value = json::parse(text.data(), text.data() + text.size(), callback,
                           /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON"));
  }
  if (duplicate.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " repeats the key '", *duplicate, "'"));
  }
  return value;
}

}  // namespace loraplex::engine
