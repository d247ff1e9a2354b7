// Renderer: expressions.
#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/operators.h"
#include "engine/chat_template/python_text.h"
#include "engine/chat_template/renderer.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

// A slice bound: None/omitted, or an int (bool counts).
absl::StatusOr<std::optional<int64_t>> SliceBound(const Value& v, int line) {
  if (v.is_undefined() || v.is_none()) return std::optional<int64_t>();
  if (v.is_int() || v.is_bool()) return std::optional<int64_t>(v.int_value());
  return RenderError(line,
                     "slice indices must be integers or None or have an "
                     "__index__ method");
}

// Python's PySlice_AdjustIndices, then the selected positions.
std::vector<int64_t> SliceIndices(int64_t length, std::optional<int64_t> start,
                                  std::optional<int64_t> stop, int64_t step) {
  const auto adjust = [&](std::optional<int64_t> bound, bool is_start) {
    if (!bound) {
      if (is_start) return step < 0 ? length - 1 : 0;
      return step < 0 ? int64_t{-1} : length;
    }
    int64_t b = *bound;
    if (b < 0) {
      b += length;
      if (b < 0) b = step < 0 ? -1 : 0;
    } else if (b >= length) {
      b = step < 0 ? length - 1 : length;
    }
    return b;
  };
  const int64_t begin = adjust(start, true);
  const int64_t end = adjust(stop, false);
  std::vector<int64_t> indices;
  if (step > 0) {
    for (int64_t i = begin; i < end; i += step) indices.push_back(i);
  } else {
    for (int64_t i = begin; i > end; i += step) indices.push_back(i);
  }
  return indices;
}

}  // namespace

absl::StatusOr<Value> Renderer::Eval(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return expr.literal;
    case Expr::Kind::kName:
      return Lookup(expr.name);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      ValueList items;
      for (const auto& arg : expr.args) {
        ASSIGN_OR_RETURN(Value v, Eval(*arg));
        items.push_back(std::move(v));
      }
      RETURN_IF_ERROR(ChargeItems(items.size(), expr.line));
      return expr.kind == Expr::Kind::kList ? Value::List(std::move(items))
                                            : Value::Tuple(std::move(items));
    }
    case Expr::Kind::kDict:
      return EvalDict(expr);
    case Expr::Kind::kGetAttr: {
      ASSIGN_OR_RETURN(Value obj, Eval(*expr.args[0]));
      return GetAttribute(obj, expr.name, expr.line);
    }
    case Expr::Kind::kGetItem: {
      ASSIGN_OR_RETURN(Value obj, Eval(*expr.args[0]));
      ASSIGN_OR_RETURN(Value key, Eval(*expr.args[1]));
      return GetItem(obj, key, expr.line);
    }
    case Expr::Kind::kSlice:
      return EvalSlice(expr);
    case Expr::Kind::kCall:
      return EvalCall(expr);
    case Expr::Kind::kFilter:
      return EvalFilter(expr, nullptr);
    case Expr::Kind::kTest: {
      ASSIGN_OR_RETURN(Value operand, Eval(*expr.args[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
      ASSIGN_OR_RETURN(bool result, ApplyTest(*this, expr.name, operand, args));
      return Value::Bool(result);
    }
    case Expr::Kind::kNot: {
      ASSIGN_OR_RETURN(Value v, Eval(*expr.args[0]));
      return Value::Bool(!v.Truthy());
    }
    case Expr::Kind::kNeg:
    case Expr::Kind::kPos: {
      ASSIGN_OR_RETURN(Value v, Eval(*expr.args[0]));
      return Negate(v, expr.kind == Expr::Kind::kNeg, expr.line);
    }
    case Expr::Kind::kBinary: {
      ASSIGN_OR_RETURN(Value a, Eval(*expr.args[0]));
      ASSIGN_OR_RETURN(Value b, Eval(*expr.args[1]));
      return BinaryOp(*this, expr.name, a, b, expr.line);
    }
    case Expr::Kind::kConcat: {
      std::string text;
      for (const auto& arg : expr.args) {
        ASSIGN_OR_RETURN(Value v, Eval(*arg));
        ASSIGN_OR_RETURN(std::string part, ToOutput(v, expr.line));
        RETURN_IF_ERROR(ChargeString(text.size() + part.size(), expr.line));
        text += part;
      }
      return Value::String(std::move(text));
    }
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      ASSIGN_OR_RETURN(Value left, Eval(*expr.args[0]));
      const bool short_circuit =
          expr.kind == Expr::Kind::kAnd ? !left.Truthy() : left.Truthy();
      if (short_circuit) return left;
      return Eval(*expr.args[1]);
    }
    case Expr::Kind::kCompare:
      return EvalCompare(expr);
    case Expr::Kind::kCondExpr: {
      ASSIGN_OR_RETURN(Value cond, Eval(*expr.args[1]));
      if (cond.Truthy()) return Eval(*expr.args[0]);
      if (expr.args[2]) return Eval(*expr.args[2]);
      return Value::Undefined(
          absl::StrCat("the inline if-expression on line ", expr.line,
                       " evaluated to false and no else section was defined."));
    }
  }
  return RenderError(expr.line, "unknown expression");
}

absl::StatusOr<CallArgs> Renderer::EvalArgs(const Expr& expr, size_t first) {
  CallArgs args;
  args.line = expr.line;
  for (size_t i = first; i < expr.args.size(); ++i) {
    ASSIGN_OR_RETURN(Value v, Eval(*expr.args[i]));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [key, value_expr] : expr.kwargs) {
    ASSIGN_OR_RETURN(Value v, Eval(*value_expr));
    args.keyword.emplace_back(key, std::move(v));
  }
  return args;
}

absl::StatusOr<Value> Renderer::EvalDict(const Expr& expr) {
  Dict dict;
  for (size_t i = 0; i + 1 < expr.args.size(); i += 2) {
    ASSIGN_OR_RETURN(Value key, Eval(*expr.args[i]));
    if (key.kind() == Value::Kind::kList || key.is_dict()) {
      return RenderError(
          expr.line, absl::StrCat("unhashable type: '", key.TypeName(), "'"));
    }
    ASSIGN_OR_RETURN(Value value, Eval(*expr.args[i + 1]));
    dict.Set(key, std::move(value));
  }
  RETURN_IF_ERROR(ChargeItems(dict.size(), expr.line));
  return Value::MakeDict(std::move(dict));
}

absl::StatusOr<Value> Renderer::EvalSlice(const Expr& expr) {
  ASSIGN_OR_RETURN(Value obj, Eval(*expr.args[0]));
  if (obj.is_undefined()) return UndefinedError(obj, expr.line);
  std::optional<int64_t> bounds[3];
  for (int i = 0; i < 3; ++i) {
    if (!expr.args[i + 1]) continue;
    ASSIGN_OR_RETURN(Value v, Eval(*expr.args[i + 1]));
    ASSIGN_OR_RETURN(bounds[i], SliceBound(v, expr.line));
  }
  const int64_t step = bounds[2].value_or(1);
  if (step == 0) return RenderError(expr.line, "slice step cannot be zero");
  if (obj.is_string()) {
    const std::u32string text = DecodeUtf8(obj.str());
    std::u32string out;
    for (int64_t i : SliceIndices(static_cast<int64_t>(text.size()), bounds[0],
                                  bounds[1], step)) {
      out += text[static_cast<size_t>(i)];
    }
    return Value::String(EncodeUtf8(out));
  }
  if (obj.is_sequence()) {
    ValueList out;
    for (int64_t i : SliceIndices(static_cast<int64_t>(obj.list().size()),
                                  bounds[0], bounds[1], step)) {
      out.push_back(obj.list()[static_cast<size_t>(i)]);
    }
    return obj.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                             : Value::List(std::move(out));
  }
  return Value::Undefined(
      absl::StrCat("'", obj.TypeName(), " object' is not subscriptable"));
}

absl::StatusOr<Value> Renderer::EvalCall(const Expr& expr) {
  ASSIGN_OR_RETURN(Value callee, Eval(*expr.args[0]));
  ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
  return CallValue(callee, args);
}

absl::StatusOr<Value> Renderer::CallValue(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) return UndefinedError(callee, args.line);
  if (!callee.is_object() || !callee.object()->callable()) {
    return RenderError(args.line, absl::StrCat("'", callee.TypeName(),
                                               "' object is not callable"));
  }
  return callee.object()->Call(*this, args);
}

absl::StatusOr<Value> Renderer::EvalFilter(const Expr& expr,
                                           const Value* operand) {
  Value input;
  if (!expr.args[0]) {
    input = *operand;
  } else if (expr.args[0]->kind == Expr::Kind::kFilter && operand != nullptr) {
    ASSIGN_OR_RETURN(input, EvalFilter(*expr.args[0], operand));
  } else {
    ASSIGN_OR_RETURN(input, Eval(*expr.args[0]));
  }
  ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
  return ApplyFilter(*this, expr.name, input, args);
}

absl::StatusOr<Value> Renderer::EvalCompare(const Expr& expr) {
  ASSIGN_OR_RETURN(Value left, Eval(*expr.args[0]));
  for (size_t i = 0; i < expr.ops.size(); ++i) {
    ASSIGN_OR_RETURN(Value right, Eval(*expr.args[i + 1]));
    ASSIGN_OR_RETURN(bool holds, Compare(expr.ops[i], left, right, expr.line));
    if (!holds) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

}  // namespace loraplex::chat
