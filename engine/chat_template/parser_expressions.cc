// Expression grammar, one function per rule of jinja2/parser.py (same names
// and the same precedence: filters bind tighter than arithmetic, `not`
// looser than comparisons, `**` left-associative as in Jinja).
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/parser_internal.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat::internal {
namespace {

// Releases the depth taken by Parser::Enter when the rule returns.
template <typename P>
class DepthGuard {
 public:
  explicit DepthGuard(P* parser) : parser_(parser) {}
  ~DepthGuard() { parser_->Leave(); }

 private:
  P* parser_;
};

}  // namespace

absl::StatusOr<ExprPtr> Parser::ParseTuple(
    bool with_condexpr, std::initializer_list<absl::string_view> end_names,
    bool explicit_parentheses) {
  const int line = Current().line;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) RETURN_IF_ERROR(ExpectOp(","));
    const TokenType type = Current().type;
    bool at_end = type == TokenType::kVariableEnd ||
                  type == TokenType::kBlockEnd || IsOp(")");
    for (absl::string_view name : end_names) at_end = at_end || IsName(name);
    if (at_end) break;
    ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
    items.push_back(std::move(item));
    if (!IsOp(",")) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parentheses) return Unexpected();
  }
  ExprPtr tuple = MakeExpr(Expr::Kind::kTuple, line);
  tuple->args = std::move(items);
  return tuple;
}

absl::StatusOr<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  RETURN_IF_ERROR(Enter());
  DepthGuard<Parser> guard(this);
  return with_condexpr ? ParseCondExpr() : ParseOr();
}

absl::StatusOr<ExprPtr> Parser::ParseCondExpr() {
  ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (IsName("if")) {
    const int line = Current().line;
    Next();
    ExprPtr node = MakeExpr(Expr::Kind::kCondExpr, line);
    ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
    ExprPtr otherwise;
    if (SkipName("else")) {
      ASSIGN_OR_RETURN(otherwise, ParseCondExpr());
    }
    node->args.push_back(std::move(expr));
    node->args.push_back(std::move(cond));
    node->args.push_back(std::move(otherwise));
    expr = std::move(node);
  }
  return expr;
}

absl::StatusOr<ExprPtr> Parser::ParseOr() {
  ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    ExprPtr node = MakeExpr(Expr::Kind::kOr, Current().line);
    Next();
    ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseAnd() {
  ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    ExprPtr node = MakeExpr(Expr::Kind::kAnd, Current().line);
    Next();
    ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    ExprPtr node = MakeExpr(Expr::Kind::kNot, Current().line);
    Next();
    RETURN_IF_ERROR(Enter());
    DepthGuard<Parser> guard(this);
    ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    node->args.push_back(std::move(operand));
    return node;
  }
  return ParseCompare();
}

absl::StatusOr<ExprPtr> Parser::ParseCompare() {
  const int line = Current().line;
  ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
  ExprPtr node;
  while (true) {
    std::string op;
    static const std::pair<const char*, const char*> kOps[] = {
        {"==", "eq"},   {"!=", "ne"}, {"<", "lt"},
        {"<=", "lteq"}, {">", "gt"},  {">=", "gteq"}};
    for (const auto& [text, name] : kOps) {
      if (IsOp(text)) op = name;
    }
    if (!op.empty()) {
      Next();
    } else if (SkipName("in")) {
      op = "in";
    } else if (IsName("not") && Look().type == TokenType::kName &&
               Look().value == "in") {
      Next();
      Next();
      op = "notin";
    } else {
      break;
    }
    if (!node) {
      node = MakeExpr(Expr::Kind::kCompare, line);
      node->args.push_back(std::move(first));
    }
    ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
    node->ops.push_back(op);
    node->args.push_back(std::move(operand));
  }
  return node ? std::move(node) : std::move(first);
}

absl::StatusOr<ExprPtr> Parser::ParseMath1() {
  ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    ExprPtr node = MakeExpr(Expr::Kind::kBinary, Current().line);
    node->name = Current().value;
    Next();
    ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseConcat() {
  const int line = Current().line;
  ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
  if (!IsOp("~")) return first;
  ExprPtr node = MakeExpr(Expr::Kind::kConcat, line);
  node->args.push_back(std::move(first));
  while (SkipOp("~")) {
    ASSIGN_OR_RETURN(ExprPtr next, ParseMath2());
    node->args.push_back(std::move(next));
  }
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParseMath2() {
  ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    ExprPtr node = MakeExpr(Expr::Kind::kBinary, Current().line);
    node->name = Current().value;
    Next();
    ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParsePow() {
  ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (IsOp("**")) {
    ExprPtr node = MakeExpr(Expr::Kind::kBinary, Current().line);
    node->name = "**";
    Next();
    ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseUnary(bool with_filter) {
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    node = MakeExpr(IsOp("-") ? Expr::Kind::kNeg : Expr::Kind::kPos,
                    Current().line);
    Next();
    RETURN_IF_ERROR(Enter());
    DepthGuard<Parser> guard(this);
    ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node->args.push_back(std::move(operand));
  } else {
    ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParsePrimary() {
  const Token& token = Current();
  const int line = token.line;
  if (token.type == TokenType::kName) {
    ExprPtr node = MakeExpr(Expr::Kind::kLiteral, line);
    const std::string& v = token.value;
    if (v == "true" || v == "True" || v == "false" || v == "False") {
      node->literal = Value::Bool(v == "true" || v == "True");
    } else if (v == "none" || v == "None") {
      node->literal = Value::None();
    } else {
      node->kind = Expr::Kind::kName;
      node->name = v;
      if (v == "tools") reads_tools_ = true;
      if (IsUnsupportedGlobal(v)) {
        return Fail(absl::StrCat("global function '", v, "' is not supported"));
      }
    }
    Next();
    return node;
  }
  if (token.type == TokenType::kString) {
    std::string text;
    while (Current().type == TokenType::kString) {
      text += Current().value;
      Next();
    }
    ExprPtr node = MakeExpr(Expr::Kind::kLiteral, line);
    node->literal = Value::String(std::move(text));
    return node;
  }
  if (token.type == TokenType::kInteger) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(token.value, &value)) {
      return Fail("integer literal out of range");
    }
    ExprPtr node = MakeExpr(Expr::Kind::kLiteral, line);
    node->literal = Value::Int(value);
    Next();
    return node;
  }
  if (token.type == TokenType::kFloat) {
    ExprPtr node = MakeExpr(Expr::Kind::kLiteral, line);
    node->literal = Value::Float(std::strtod(token.value.c_str(), nullptr));
    Next();
    return node;
  }
  if (IsOp("(")) {
    Next();
    RETURN_IF_ERROR(Enter());
    DepthGuard<Parser> guard(this);
    ASSIGN_OR_RETURN(ExprPtr node, ParseTuple(true, {}, true));
    RETURN_IF_ERROR(ExpectOp(")"));
    return node;
  }
  if (IsOp("[")) return ParseList();
  if (IsOp("{")) return ParseDict();
  return Unexpected();
}

absl::StatusOr<ExprPtr> Parser::ParseList() {
  ExprPtr node = MakeExpr(Expr::Kind::kList, Current().line);
  RETURN_IF_ERROR(ExpectOp("["));
  while (!IsOp("]")) {
    if (!node->args.empty()) RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp("]")) break;
    ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
    node->args.push_back(std::move(item));
  }
  RETURN_IF_ERROR(ExpectOp("]"));
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParseDict() {
  ExprPtr node = MakeExpr(Expr::Kind::kDict, Current().line);
  RETURN_IF_ERROR(ExpectOp("{"));
  while (!IsOp("}")) {
    if (!node->args.empty()) RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp("}")) break;
    ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
    RETURN_IF_ERROR(ExpectOp(":"));
    ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
    node->args.push_back(std::move(key));
    node->args.push_back(std::move(value));
  }
  RETURN_IF_ERROR(ExpectOp("}"));
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (IsOp("(")) {
      ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
    } else if (IsName("is")) {
      ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
    } else if (IsOp("(")) {
      ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  const int line = Current().line;
  if (SkipOp(".")) {
    if (Current().type == TokenType::kName) {
      ExprPtr attr = MakeExpr(Expr::Kind::kGetAttr, line);
      attr->name = Current().value;
      Next();
      attr->args.push_back(std::move(node));
      return attr;
    }
    if (Current().type != TokenType::kInteger) return Unexpected();
    ExprPtr item = MakeExpr(Expr::Kind::kGetItem, line);
    ASSIGN_OR_RETURN(ExprPtr index, ParsePrimary());
    item->args.push_back(std::move(node));
    item->args.push_back(std::move(index));
    return item;
  }
  RETURN_IF_ERROR(ExpectOp("["));
  std::vector<ExprPtr> subscripts;
  while (!IsOp("]")) {
    if (!subscripts.empty()) {
      RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp("]")) break;
    }
    ASSIGN_OR_RETURN(ExprPtr sub, ParseSubscribed());
    subscripts.push_back(std::move(sub));
  }
  RETURN_IF_ERROR(ExpectOp("]"));
  if (subscripts.empty()) return Fail("expected a subscript");
  if (subscripts.size() == 1 && subscripts[0]->kind == Expr::Kind::kSlice) {
    subscripts[0]->args[0] = std::move(node);
    return std::move(subscripts[0]);
  }
  ExprPtr item = MakeExpr(Expr::Kind::kGetItem, line);
  item->args.push_back(std::move(node));
  if (subscripts.size() == 1) {
    item->args.push_back(std::move(subscripts[0]));
  } else {
    ExprPtr tuple = MakeExpr(Expr::Kind::kTuple, line);
    for (ExprPtr& sub : subscripts) {
      if (sub->kind == Expr::Kind::kSlice) {
        return Fail("slices inside a tuple subscript are not supported");
      }
      tuple->args.push_back(std::move(sub));
    }
    item->args.push_back(std::move(tuple));
  }
  return item;
}

// `expr`, or a slice `[start]:[stop][:[step]]`; a slice comes back with
// args[0] empty for ParseSubscript to fill with the sliced object.
absl::StatusOr<ExprPtr> Parser::ParseSubscribed() {
  ExprPtr slice = MakeExpr(Expr::Kind::kSlice, Current().line);
  slice->args.emplace_back();  // The object.
  if (SkipOp(":")) {
    slice->args.emplace_back();
  } else {
    ASSIGN_OR_RETURN(ExprPtr start, ParseExpression());
    if (!SkipOp(":")) return start;
    slice->args.push_back(std::move(start));
  }
  const auto at_end = [this] { return IsOp("]") || IsOp(","); };
  if (IsOp(":") || at_end()) {
    slice->args.emplace_back();
  } else {
    ASSIGN_OR_RETURN(ExprPtr stop, ParseExpression());
    slice->args.push_back(std::move(stop));
  }
  if (SkipOp(":") && !at_end()) {
    ASSIGN_OR_RETURN(ExprPtr step, ParseExpression());
    slice->args.push_back(std::move(step));
  } else {
    slice->args.emplace_back();
  }
  return slice;
}

absl::StatusOr<ExprPtr> Parser::ParseCall(ExprPtr callee) {
  ExprPtr call = MakeExpr(Expr::Kind::kCall, Current().line);
  call->args.push_back(std::move(callee));
  RETURN_IF_ERROR(ParseCallArgs(*call));
  return call;
}

absl::Status Parser::ParseCallArgs(Expr& node) {
  RETURN_IF_ERROR(ExpectOp("("));
  bool require_comma = false;
  while (!IsOp(")")) {
    if (require_comma) {
      RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
    }
    if (IsOp("*") || IsOp("**")) {
      return Fail("*args and **kwargs in calls are not supported");
    }
    if (Current().type == TokenType::kName &&
        Look().type == TokenType::kOperator && Look().value == "=") {
      std::string key = Current().value;
      Next();
      Next();
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      node.kwargs.emplace_back(std::move(key), std::move(value));
    } else {
      if (!node.kwargs.empty()) {
        return Fail("invalid syntax for function call expression");
      }
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      node.args.push_back(std::move(value));
    }
    require_comma = true;
  }
  return ExpectOp(")");
}

absl::StatusOr<ExprPtr> Parser::ParseFilter(ExprPtr node, bool start_inline) {
  while (IsOp("|") || start_inline) {
    if (!start_inline) Next();
    start_inline = false;
    const int line = Current().line;
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    if (IsOp(".") || !IsSupportedFilter(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line, ": filter '", name, "' is not supported"));
    }
    ExprPtr filter = MakeExpr(Expr::Kind::kFilter, line);
    filter->name = std::move(name);
    filter->args.push_back(std::move(node));
    if (IsOp("(")) RETURN_IF_ERROR(ParseCallArgs(*filter));
    node = std::move(filter);
  }
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParseTest(ExprPtr node) {
  const int line = Current().line;
  Next();  // "is"
  const bool negated = SkipName("not");
  ASSIGN_OR_RETURN(std::string name, ExpectName());
  if (IsOp(".") || !IsSupportedTest(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ": test '", name, "' is not supported"));
  }
  ExprPtr test = MakeExpr(Expr::Kind::kTest, line);
  test->name = std::move(name);
  test->args.push_back(std::move(node));
  const TokenType type = Current().type;
  if (IsOp("(")) {
    RETURN_IF_ERROR(ParseCallArgs(*test));
  } else if ((type == TokenType::kName || type == TokenType::kString ||
              type == TokenType::kInteger || type == TokenType::kFloat ||
              IsOp("[") || IsOp("{")) &&
             !IsName("else") && !IsName("or") && !IsName("and")) {
    if (IsName("is")) return Fail("you cannot chain multiple tests with is");
    ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
    ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    test->args.push_back(std::move(arg));
  }
  if (!negated) return test;
  ExprPtr not_node = MakeExpr(Expr::Kind::kNot, line);
  not_node->args.push_back(std::move(test));
  return not_node;
}

}  // namespace loraplex::chat::internal
