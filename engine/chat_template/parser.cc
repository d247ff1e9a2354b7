#include "engine/chat_template/parser.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/parser_internal.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace internal {

absl::Status Parser::Fail(absl::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", Current().line, ": ", message));
}

std::string Parser::Describe(const Token& token) {
  switch (token.type) {
    case TokenType::kEnd:
      return "end of template";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kData:
      return "template data";
    case TokenType::kString:
      return "string";
    default:
      return token.value;
  }
}

absl::Status Parser::Unexpected() const {
  return Fail(absl::StrCat("unexpected '", Describe(Current()), "'"));
}

absl::Status Parser::ExpectOp(absl::string_view op) {
  if (!SkipOp(op)) {
    return Fail(
        absl::StrCat("expected '", op, "', got '", Describe(Current()), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Parser::ExpectName() {
  if (Current().type != TokenType::kName) {
    return Fail(
        absl::StrCat("expected a name, got '", Describe(Current()), "'"));
  }
  std::string name = Current().value;
  Next();
  return name;
}

absl::Status Parser::Enter() {
  if (++depth_ > kMaxNestingDepth) {
    --depth_;
    return Fail(
        absl::StrCat("nesting deeper than ", kMaxNestingDepth, " levels"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ExpectBlockEnd() {
  if (Current().type != TokenType::kBlockEnd) {
    return Fail(absl::StrCat("expected end of statement block, got '",
                             Describe(Current()), "'"));
  }
  Next();
  return absl::OkStatus();
}

absl::Status Parser::ExpectEndTag(absl::string_view name) {
  if (!SkipName(name)) return Unexpected();
  return ExpectBlockEnd();
}

absl::StatusOr<ParsedTemplate> Parser::Run() {
  ParsedTemplate parsed;
  ASSIGN_OR_RETURN(parsed.body, ParseBody({}));
  if (Current().type != TokenType::kEnd) return Unexpected();
  parsed.reads_tools = reads_tools_;
  return parsed;
}

absl::StatusOr<StmtList> Parser::ParseBody(
    std::initializer_list<absl::string_view> end_tags) {
  RETURN_IF_ERROR(Enter());
  StmtList body;
  while (true) {
    const Token& token = Current();
    if (token.type == TokenType::kEnd) {
      if (end_tags.size() != 0) {
        Leave();
        return Fail(absl::StrCat("unexpected end of template: expected '",
                                 *end_tags.begin(), "'"));
      }
      break;
    }
    if (token.type == TokenType::kData) {
      auto stmt = std::make_unique<Stmt>();
      stmt->kind = Stmt::Kind::kText;
      stmt->line = token.line;
      stmt->text = token.value;
      body.push_back(std::move(stmt));
      Next();
      continue;
    }
    if (token.type == TokenType::kVariableBegin) {
      auto stmt = std::make_unique<Stmt>();
      stmt->kind = Stmt::Kind::kOutput;
      stmt->line = token.line;
      Next();
      ASSIGN_OR_RETURN(stmt->expr, ParseTuple(true, {}));
      if (Current().type != TokenType::kVariableEnd) {
        Leave();
        return Fail(absl::StrCat("expected end of print statement, got '",
                                 Describe(Current()), "'"));
      }
      Next();
      body.push_back(std::move(stmt));
      continue;
    }
    if (token.type != TokenType::kBlockBegin) return Unexpected();
    Next();
    if (Current().type == TokenType::kName &&
        std::find(end_tags.begin(), end_tags.end(), Current().value) !=
            end_tags.end()) {
      break;  // The caller reads the end tag.
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Stmt> stmt, ParseStatement());
    body.push_back(std::move(stmt));
  }
  Leave();
  return body;
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseStatement() {
  const int line = Current().line;
  if (Current().type != TokenType::kName) {
    return Fail("tag name expected");
  }
  const std::string tag = Current().value;
  Next();
  if (tag == "if") return ParseIf(line);
  if (tag == "for") return ParseFor(line);
  if (tag == "set") return ParseSet(line);
  if (tag == "macro") return ParseMacro(line);
  if (tag == "with") return ParseWith(line);
  if (tag == "filter") return ParseFilterBlock(line);
  auto stmt = std::make_unique<Stmt>();
  stmt->line = line;
  if (tag == "print") {
    stmt->kind = Stmt::Kind::kOutput;
    ASSIGN_OR_RETURN(stmt->expr, ParseTuple(true, {}));
    RETURN_IF_ERROR(ExpectBlockEnd());
    return stmt;
  }
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line, ": '", tag, "' outside of a loop"));
    }
    stmt->kind = tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
    RETURN_IF_ERROR(ExpectBlockEnd());
    return stmt;
  }
  if (tag == "generation") {
    stmt->kind = Stmt::Kind::kGeneration;
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(stmt->body, ParseBody({"endgeneration"}));
    RETURN_IF_ERROR(ExpectEndTag("endgeneration"));
    return stmt;
  }
  static const char* const kJinjaTags[] = {
      "block", "extends",    "include", "import",    "from",  "call",
      "do",    "autoescape", "trans",   "pluralize", "debug", "raw"};
  for (const char* known : kJinjaTags) {
    if (tag == known) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line, ": tag '", tag, "' is not supported"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": unknown tag '", tag, "'"));
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseIf(int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = Stmt::Kind::kIf;
  stmt->line = line;
  while (true) {
    ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(false, {}));
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(StmtList body, ParseBody({"elif", "else", "endif"}));
    stmt->branches.emplace_back(std::move(cond), std::move(body));
    if (SkipName("elif")) continue;
    if (SkipName("else")) {
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(stmt->else_body, ParseBody({"endif"}));
    }
    RETURN_IF_ERROR(ExpectEndTag("endif"));
    return stmt;
  }
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseFor(int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = Stmt::Kind::kFor;
  stmt->line = line;
  ASSIGN_OR_RETURN(stmt->target, ParseTarget(/*allow_attribute=*/false));
  if (!SkipName("in")) return Fail("expected 'in' in a for loop");
  ASSIGN_OR_RETURN(stmt->expr, ParseTuple(false, {"recursive"}));
  if (SkipName("if")) {
    ASSIGN_OR_RETURN(stmt->filter, ParseExpression());
  }
  if (IsName("recursive")) return Fail("recursive loops are not supported");
  RETURN_IF_ERROR(ExpectBlockEnd());
  ++loop_depth_;
  absl::StatusOr<StmtList> body = ParseBody({"endfor", "else"});
  --loop_depth_;
  if (!body.ok()) return body.status();
  stmt->body = *std::move(body);
  if (SkipName("else")) {
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(stmt->else_body, ParseBody({"endfor"}));
  }
  RETURN_IF_ERROR(ExpectEndTag("endfor"));
  return stmt;
}

absl::StatusOr<Target> Parser::ParseTarget(bool allow_attribute) {
  Target target;
  ASSIGN_OR_RETURN(std::string first, ExpectName());
  if (allow_attribute && SkipOp(".")) {
    target.kind = Target::Kind::kAttribute;
    target.names.push_back(std::move(first));
    ASSIGN_OR_RETURN(target.attribute, ExpectName());
    return target;
  }
  target.names.push_back(std::move(first));
  while (SkipOp(",")) {
    target.kind = Target::Kind::kTuple;
    if (Current().type != TokenType::kName) break;  // Trailing comma.
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    target.names.push_back(std::move(name));
  }
  for (const std::string& name : target.names) {
    if (name == "true" || name == "false" || name == "none" || name == "True" ||
        name == "False" || name == "None") {
      return Fail(absl::StrCat("can't assign to '", name, "'"));
    }
  }
  return target;
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseSet(int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->line = line;
  ASSIGN_OR_RETURN(stmt->target, ParseTarget(/*allow_attribute=*/true));
  if (SkipOp("=")) {
    stmt->kind = Stmt::Kind::kSet;
    ASSIGN_OR_RETURN(stmt->expr, ParseTuple(true, {}));
    RETURN_IF_ERROR(ExpectBlockEnd());
    return stmt;
  }
  stmt->kind = Stmt::Kind::kSetBlock;
  if (stmt->target.kind == Target::Kind::kTuple) {
    return Fail("a block set assigns one name");
  }
  if (IsOp("|")) {
    ASSIGN_OR_RETURN(stmt->expr, ParseFilter(nullptr, false));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  ASSIGN_OR_RETURN(stmt->body, ParseBody({"endset"}));
  RETURN_IF_ERROR(ExpectEndTag("endset"));
  return stmt;
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseMacro(int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = Stmt::Kind::kMacro;
  stmt->line = line;
  ASSIGN_OR_RETURN(stmt->text, ExpectName());
  RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    if (!stmt->params.empty()) RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp(")")) break;
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    ExprPtr default_value;
    if (SkipOp("=")) {
      ASSIGN_OR_RETURN(default_value, ParseExpression());
    } else if (!stmt->params.empty() && stmt->params.back().second) {
      return Fail("non-default argument follows default argument");
    }
    stmt->params.emplace_back(std::move(name), std::move(default_value));
  }
  RETURN_IF_ERROR(ExpectOp(")"));
  RETURN_IF_ERROR(ExpectBlockEnd());
  const int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;  // A loop around the definition is not around the body.
  absl::StatusOr<StmtList> body = ParseBody({"endmacro"});
  loop_depth_ = saved_loop_depth;
  if (!body.ok()) return body.status();
  stmt->body = *std::move(body);
  if (SkipName("endmacro")) {
    if (Current().type == TokenType::kName) Next();  // {% endmacro name %}
    RETURN_IF_ERROR(ExpectBlockEnd());
  }
  return stmt;
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseWith(int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = Stmt::Kind::kWith;
  stmt->line = line;
  while (Current().type != TokenType::kBlockEnd) {
    if (!stmt->params.empty()) RETURN_IF_ERROR(ExpectOp(","));
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    RETURN_IF_ERROR(ExpectOp("="));
    ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
    stmt->params.emplace_back(std::move(name), std::move(value));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  ASSIGN_OR_RETURN(stmt->body, ParseBody({"endwith"}));
  RETURN_IF_ERROR(ExpectEndTag("endwith"));
  return stmt;
}

absl::StatusOr<std::unique_ptr<Stmt>> Parser::ParseFilterBlock(int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = Stmt::Kind::kFilterBlock;
  stmt->line = line;
  ASSIGN_OR_RETURN(stmt->expr, ParseFilter(nullptr, /*start_inline=*/true));
  RETURN_IF_ERROR(ExpectBlockEnd());
  ASSIGN_OR_RETURN(stmt->body, ParseBody({"endfilter"}));
  RETURN_IF_ERROR(ExpectEndTag("endfilter"));
  return stmt;
}

}  // namespace internal

absl::StatusOr<ParsedTemplate> ParseTemplate(std::vector<Token> tokens) {
  return internal::Parser(std::move(tokens)).Run();
}

}  // namespace loraplex::chat
