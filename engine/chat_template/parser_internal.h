// The parser's class, shared by parser.cc (statements) and
// parser_expressions.cc (expressions). Internal to the module.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_PARSER_INTERNAL_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_PARSER_INTERNAL_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat_template/ast.h"
#include "engine/chat_template/lexer.h"
#include "engine/chat_template/parser.h"

namespace loraplex::chat::internal {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<ParsedTemplate> Run();

  // Depth guard for recursive descent (kMaxNestingDepth).
  absl::Status Enter();
  void Leave() { --depth_; }

 private:
  // Statements (parser.cc).
  // Parses until a block tag whose first name is in `end_tags` (left
  // current, after `{%`), or the end of the template when `end_tags` is
  // empty.
  absl::StatusOr<StmtList> ParseBody(
      std::initializer_list<absl::string_view> end_tags);
  absl::StatusOr<std::unique_ptr<Stmt>> ParseStatement();
  absl::StatusOr<std::unique_ptr<Stmt>> ParseIf(int line);
  absl::StatusOr<std::unique_ptr<Stmt>> ParseFor(int line);
  absl::StatusOr<std::unique_ptr<Stmt>> ParseSet(int line);
  absl::StatusOr<std::unique_ptr<Stmt>> ParseMacro(int line);
  absl::StatusOr<std::unique_ptr<Stmt>> ParseWith(int line);
  absl::StatusOr<std::unique_ptr<Stmt>> ParseFilterBlock(int line);
  absl::StatusOr<Target> ParseTarget(bool allow_attribute);
  absl::Status ExpectBlockEnd();
  absl::Status ExpectEndTag(absl::string_view name);

  // Expressions (parser_expressions.cc), named after jinja2/parser.py.
  absl::StatusOr<ExprPtr> ParseTuple(
      bool with_condexpr, std::initializer_list<absl::string_view> end_names,
      bool explicit_parentheses = false);
  absl::StatusOr<ExprPtr> ParseExpression(bool with_condexpr = true);
  absl::StatusOr<ExprPtr> ParseCondExpr();
  absl::StatusOr<ExprPtr> ParseOr();
  absl::StatusOr<ExprPtr> ParseAnd();
  absl::StatusOr<ExprPtr> ParseNot();
  absl::StatusOr<ExprPtr> ParseCompare();
  absl::StatusOr<ExprPtr> ParseMath1();
  absl::StatusOr<ExprPtr> ParseConcat();
  absl::StatusOr<ExprPtr> ParseMath2();
  absl::StatusOr<ExprPtr> ParsePow();
  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter);
  absl::StatusOr<ExprPtr> ParsePrimary();
  absl::StatusOr<ExprPtr> ParseList();
  absl::StatusOr<ExprPtr> ParseDict();
  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscribed();
  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee);
  // `| name(args) | ...`; `node` may be null (filter blocks).
  absl::StatusOr<ExprPtr> ParseFilter(ExprPtr node, bool start_inline);
  absl::StatusOr<ExprPtr> ParseTest(ExprPtr node);
  // Fills node->args (after the existing ones) and node->kwargs.
  absl::Status ParseCallArgs(Expr& node);

  // Token stream.
  const Token& Current() const { return tokens_[pos_]; }
  const Token& Look() const {
    return tokens_[std::min(pos_ + 1, tokens_.size() - 1)];
  }
  void Next() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsOp(absl::string_view op) const {
    return Current().type == TokenType::kOperator && Current().value == op;
  }
  bool IsName(absl::string_view name) const {
    return Current().type == TokenType::kName && Current().value == name;
  }
  bool SkipOp(absl::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(absl::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  absl::Status ExpectOp(absl::string_view op);
  absl::StatusOr<std::string> ExpectName();
  absl::Status Fail(absl::string_view message) const;
  absl::Status Unexpected() const;
  static std::string Describe(const Token& token);

  ExprPtr MakeExpr(Expr::Kind kind, int line) const {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;  // break/continue are valid only inside a for.
  bool reads_tools_ = false;
};

}  // namespace loraplex::chat::internal

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_PARSER_INTERNAL_H_
