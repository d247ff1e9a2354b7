// Values to and from text the way Python does it: str() (what `{{ x }}`
// prints), repr() (how a list or dict prints its items), json.dumps()
// (transformers' `tojson`), and JSON input to Values.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_VALUE_FORMAT_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_VALUE_FORMAT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/chat_template/value.h"
#include "nlohmann/json.hpp"

namespace loraplex::chat {

// Containers nested deeper than this print as "..." (repr) or are refused
// (tojson, JSON input): a namespace can contain itself.
inline constexpr int kMaxValueDepth = 128;

// str(x): Undefined is "", None "None", True "True", 1.0 "1.0", containers
// as repr().
std::string PyStr(const Value& v);
// repr(x): strings quoted as Python quotes them.
std::string PyRepr(const Value& v);

struct JsonDumpsOptions {
  bool ensure_ascii = false;  // transformers' tojson default.
  // nullopt: one line. A number of spaces, or a string, per level.
  std::optional<std::string> indent;
  // nullopt: ", " and ": " (",", ": " with an indent).
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};

// json.dumps(x, ...). INVALID_ARGUMENT for what Python refuses ("Object of
// type Undefined is not JSON serializable", keys of mixed types under
// sort_keys) and for nesting past kMaxValueDepth.
absl::StatusOr<std::string> JsonDumps(const Value& v,
                                      const JsonDumpsOptions& options);

// JSON (as json.loads builds it: objects keep their key order, 1 is an
// int, 1.0 a float) to a Value. INVALID_ARGUMENT past kMaxValueDepth or for
// an unsigned number beyond int64.
absl::StatusOr<Value> ValueFromJson(const nlohmann::ordered_json& json);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_VALUE_FORMAT_H_
