// Python's operators on template values: arithmetic (int64 with overflow
// errors where Python has big integers), string and list concatenation and
// repetition, comparisons and `in`. Internal to the module.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_OPERATORS_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_OPERATORS_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat_template/renderer.h"
#include "engine/chat_template/value.h"

namespace loraplex::chat {

// op: + - * / // % **
absl::StatusOr<Value> BinaryOp(Renderer& renderer, absl::string_view op,
                               const Value& a, const Value& b, int line);
absl::StatusOr<Value> Negate(const Value& v, bool minus, int line);
// op: eq ne lt lteq gt gteq in notin
absl::StatusOr<bool> Compare(absl::string_view op, const Value& a,
                             const Value& b, int line);
// Python's `needle in haystack`.
absl::StatusOr<bool> Contains(const Value& haystack, const Value& needle,
                              int line);
// Python's a < b (for sort, min, max): numbers, strings, sequences.
absl::StatusOr<bool> LessThan(const Value& a, const Value& b, int line);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_OPERATORS_H_
