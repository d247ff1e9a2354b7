// The syntax tree of a parsed template: the parser builds it once, every
// render walks it read-only (so a ChatTemplate is shareable across threads).
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_AST_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat_template/value.h"

namespace loraplex::chat {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // literal
    kName,      // name
    kList,      // args: items
    kTuple,     // args: items
    kDict,      // args: key, value, key, value, ...
    kGetAttr,   // args[0].name
    kGetItem,   // args[0][args[1]]
    kSlice,     // args[0][args[1]:args[2]:args[3]] (null = omitted)
    kCall,      // args[0](args[1:], kwargs)
    kFilter,    // args[0] | name(args[1:], kwargs); args[0] null in a
                // filter block or block set (the body is the operand)
    kTest,      // args[0] is name(args[1:], kwargs)
    kNot,       // not args[0]
    kNeg,       // -args[0]
    kPos,       // +args[0]
    kBinary,    // args[0] <name> args[1]; name: + - * / // % **
    kConcat,    // args[0] ~ args[1] ~ ...
    kAnd,       // args[0] and args[1]
    kOr,        // args[0] or args[1]
    kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ... (chained)
    kCondExpr,  // args[0] if args[1] else args[2] (args[2] may be null)
  };
  Kind kind = Kind::kLiteral;
  int line = 0;
  std::string name;
  Value literal;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare: eq ne lt lteq gt gteq in notin
};

// Where `for` and `set` store values.
struct Target {
  enum class Kind { kName, kTuple, kAttribute };
  Kind kind = Kind::kName;
  std::vector<std::string> names;  // kName: one; kTuple: several;
                                   // kAttribute: the namespace's name.
  std::string attribute;           // kAttribute: ns.<attribute>.
};

struct Stmt;
using StmtList = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches (cond, body)..., else_body
    kFor,          // for target in expr [if filter]: body else else_body
    kSet,          // set target = expr
    kSetBlock,     // set target [| filter] %}body{% endset
    kMacro,        // macro name(params) body
    kFilterBlock,  // filter <filter> %}body{% endfilter
    kWith,         // with assignments: body
    kBreak,
    kContinue,
    kGeneration,  // generation %}body{% endgeneration: renders body
  };
  Kind kind = Kind::kText;
  int line = 0;
  std::string text;  // kText; kMacro: the macro's name.
  ExprPtr expr;      // kOutput, kFor (iterable), kSet, kSetBlock/kFilterBlock
                     // (filter chain)
  ExprPtr filter;    // kFor: the `if` condition.
  Target target;
  std::vector<std::pair<ExprPtr, StmtList>> branches;  // kIf
  StmtList body;
  StmtList else_body;
  // kMacro: parameters with optional defaults; kWith: assignments.
  std::vector<std::pair<std::string, ExprPtr>> params;
};

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_AST_H_
