// JSON parsing for untrusted headers: nlohmann silently keeps one of two
// equal keys, while the reference safetensors implementation rejects such a
// header, so this parser reports duplicate keys at any depth.
#ifndef LORAPLEX_ENGINE_SAFETENSORS_STRICT_JSON_H_
#define LORAPLEX_ENGINE_SAFETENSORS_STRICT_JSON_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {

// Parses `text` (UTF-8). INVALID_ARGUMENT, with `what` ("header", "index")
// in the message, for malformed JSON or an object with a repeated key. Never
// throws.
absl::StatusOr<nlohmann::json> ParseJsonRejectingDuplicateKeys(
    std::string_view text, absl::string_view what);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAFETENSORS_STRICT_JSON_H_
