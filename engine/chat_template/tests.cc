// Jinja's tests (`x is name(args)`), jinja2/tests.py.
#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/operators.h"
#include "engine/chat_template/python_text.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

constexpr std::array<absl::string_view, 39> kTests = {
    "!=",          "<",        "<=",       "==",          ">",        ">=",
    "boolean",     "callable", "defined",  "divisibleby", "eq",       "equalto",
    "escaped",     "even",     "false",    "filter",      "float",    "ge",
    "greaterthan", "gt",       "in",       "integer",     "iterable", "le",
    "lessthan",    "lt",       "mapping",  "ne",          "none",     "number",
    "odd",         "sameas",   "sequence", "string",      "test",     "true",
    "undefined",   "upper",    "lower"};

absl::StatusOr<Value> OneArg(const CallArgs& args, absl::string_view name) {
  ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"other"}, 1, name));
  return bound[0];
}

absl::StatusOr<double> ModOf(const Value& v, double divisor, int line) {
  if (!v.is_number()) {
    return RenderError(
        line, absl::StrCat("unsupported operand type(s) for %: '", v.TypeName(),
                           "' and 'int'"));
  }
  if (divisor == 0)
    return RenderError(line, "integer division or modulo by zero");
  if (!v.is_float()) {
    int64_t r = v.int_value() % static_cast<int64_t>(divisor);
    if (r != 0 && ((r < 0) != (divisor < 0)))
      r += static_cast<int64_t>(divisor);
    return static_cast<double>(r);
  }
  double r = std::fmod(v.float_value(), divisor);
  if (r != 0 && ((r < 0) != (divisor < 0))) r += divisor;
  return r;
}

}  // namespace

bool IsSupportedTest(absl::string_view name) {
  return std::find(kTests.begin(), kTests.end(), name) != kTests.end();
}

absl::StatusOr<bool> ApplyTest(Renderer& renderer, const std::string& name,
                               const Value& v, CallArgs& args) {
  using Kind = Value::Kind;
  const int line = args.line;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.bool_value();
  if (name == "false") return v.is_bool() && !v.bool_value();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") {
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
  }
  if (name == "sequence") {
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
  }
  if (name == "callable") return v.is_object() && v.object()->callable();
  if (name == "escaped") return v.is_string() && v.markup();
  if (name == "lower") return PyIsLower(PyStr(v));
  if (name == "upper") return PyIsUpper(PyStr(v));
  if (name == "odd" || name == "even") {
    ASSIGN_OR_RETURN(double r, ModOf(v, 2, line));
    return name == "odd" ? r == 1 : r == 0;
  }
  if (name == "divisibleby") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"num"}, 1, name));
    if (!bound[0].is_number()) {
      return RenderError(line, "divisibleby needs a number");
    }
    ASSIGN_OR_RETURN(double r, ModOf(v, bound[0].AsDouble(), line));
    return r == 0;
  }
  if (name == "filter" || name == "test") {
    ASSIGN_OR_RETURN(Value other, OneArg(args, name));
    if (!other.is_string()) return false;
    return name == "filter" ? IsSupportedFilter(other.str())
                            : IsSupportedTest(other.str());
  }
  if (name == "sameas") {
    ASSIGN_OR_RETURN(Value other, OneArg(args, name));
    if (v.kind() != other.kind()) return false;
    switch (v.kind()) {
      case Kind::kNone:
        return true;
      case Kind::kBool:
        return v.bool_value() == other.bool_value();
      case Kind::kInt:  // CPython caches small ints.
        return v.int_value() == other.int_value() && v.int_value() >= -5 &&
               v.int_value() <= 256;
      case Kind::kList:
      case Kind::kTuple:
        return &v.list() == &other.list();
      case Kind::kDict:
        return &v.dict() == &other.dict();
      case Kind::kObject:
        return v.object() == other.object();
      case Kind::kString:
        return &v.str() == &other.str();
      default:
        return false;
    }
  }
  ASSIGN_OR_RETURN(Value other, OneArg(args, name));
  absl::string_view op;
  if (name == "==" || name == "eq" || name == "equalto") op = "eq";
  if (name == "!=" || name == "ne") op = "ne";
  if (name == "<" || name == "lt" || name == "lessthan") op = "lt";
  if (name == "<=" || name == "le") op = "lteq";
  if (name == ">" || name == "gt" || name == "greaterthan") op = "gt";
  if (name == ">=" || name == "ge") op = "gteq";
  if (name == "in") op = "in";
  if (op.empty())
    return RenderError(line, absl::StrCat("unknown test '", name, "'"));
  return Compare(op, v, other, line);
}

}  // namespace loraplex::chat
