// Jinja2's grammar (jinja2/parser.py), for the subset chat templates use:
// tokens from the lexer to a statement list. Anything outside the subset
// is refused here, with its line, so a template is checked once, when the
// server starts, not on the first request that reaches the construct.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_PARSER_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_PARSER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/chat_template/ast.h"
#include "engine/chat_template/lexer.h"

namespace loraplex::chat {

struct ParsedTemplate {
  StmtList body;
  bool reads_tools = false;  // The template mentions the name `tools`.
};

// Nesting of blocks and expressions past this is refused (it bounds the
// recursion of the parser and of every render).
inline constexpr int kMaxNestingDepth = 100;

// INVALID_ARGUMENT "line N: ..." for a syntax error, a tag, filter, test or
// global function the interpreter does not implement, or nesting past
// kMaxNestingDepth.
absl::StatusOr<ParsedTemplate> ParseTemplate(std::vector<Token> tokens);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_PARSER_H_
