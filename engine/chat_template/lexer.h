// Splits a Jinja2 template into tokens exactly as Jinja's lexer does under
// transformers' settings: trim_blocks and lstrip_blocks on, `-`/`+`
// whitespace control on every tag, comments dropped, `{% raw %}` bodies as
// text, newlines normalised to "\n" and one trailing newline of the source
// dropped (keep_trailing_newline=False).
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_LEXER_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_LEXER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loraplex::chat {

enum class TokenType {
  kData,           // Template text, already whitespace-controlled.
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,   // value: the unescaped text.
  kInteger,  // value: the digits, underscores removed.
  kFloat,
  kOperator,  // value: "+", "//", "(", ...
  kEnd,       // End of the template.
};

struct Token {
  TokenType type = TokenType::kEnd;
  std::string value;
  int line = 1;
};

// INVALID_ARGUMENT "line N: ..." for an unterminated tag, comment, string or
// raw block, an unbalanced bracket, or a character Jinja does not accept.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_LEXER_H_
