// Parsing JSON the server did not write (model and adapter configs,
// tokenizer files, safetensors indexes) with the size and nesting depth
// bounded before any DOM is built, so a small hostile file cannot make the
// parser allocate hundreds of megabytes (a nested-array "bomb") or take
// quadratic time.
//
// Note [Bounded JSON]: the text is refused unparsed when it is longer than
// JsonLimits::max_bytes; while parsing (nlohmann's SAX parser, which keeps
// its own stack on the heap, feeding our DOM builder) an array or object
// nested deeper than max_depth stops the parse at once, and so does an
// object that repeats a key (two parsers could disagree on which value
// wins). The DOM of a document within the limits takes at most about 30
// bytes per byte of text (every value costs at least two bytes of text), so
// memory is bounded by the size cap. Object insertion is O(log n) (or
// O(1) for ordered_json), never linear, so parsing is O(n log n).
#ifndef LORAPLEX_ENGINE_COMMON_BOUNDED_JSON_H_
#define LORAPLEX_ENGINE_COMMON_BOUNDED_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {

struct JsonLimits {
  // Longer text is refused before it is parsed (and, for files, before more
  // than this is read).
  size_t max_bytes = 1 << 20;
  // Arrays and objects nested deeper than this are refused while parsing;
  // the top-level value is depth 1.
  int max_depth = 64;
};

// Parses `text` under `limits`. INVALID_ARGUMENT "<label>: ..." for text
// over the size limit, malformed JSON (with the byte offset), nesting past
// the depth limit, or a repeated key; the messages state the limit. Never
// throws. Instantiated for nlohmann::json and nlohmann::ordered_json (which
// keeps keys in file order).
template <typename BasicJson>
absl::StatusOr<BasicJson> ParseBoundedJson(std::string_view text,
                                           absl::string_view label,
                                           const JsonLimits& limits);

// Reads `path` with ReadTextFile (at most limits.max_bytes; its errors
// start with `path`) and parses it as ParseBoundedJson does.
template <typename BasicJson>
absl::StatusOr<BasicJson> ReadBoundedJsonFile(const std::string& path,
                                              absl::string_view label,
                                              const JsonLimits& limits);

extern template absl::StatusOr<nlohmann::json> ParseBoundedJson(
    std::string_view, absl::string_view, const JsonLimits&);
extern template absl::StatusOr<nlohmann::ordered_json> ParseBoundedJson(
    std::string_view, absl::string_view, const JsonLimits&);
extern template absl::StatusOr<nlohmann::json> ReadBoundedJsonFile(
    const std::string&, absl::string_view, const JsonLimits&);
extern template absl::StatusOr<nlohmann::ordered_json> ReadBoundedJsonFile(
    const std::string&, absl::string_view, const JsonLimits&);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_COMMON_BOUNDED_JSON_H_
