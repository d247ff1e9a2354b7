#include "engine/chat_template/operators.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/string_format.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

absl::Status Unsupported(absl::string_view op, const Value& a, const Value& b,
                         int line) {
  return RenderError(line,
                     absl::StrCat("unsupported operand type(s) for ", op, ": '",
                                  a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::Status Overflow(int line) {
  return RenderError(line, "integer overflow (integers are 64-bit here)");
}

// CPython's float floor division and modulo (Objects/floatobject.c).
void FloatDivMod(double vx, double wx, double* floordiv, double* mod) {
  double m = std::fmod(vx, wx);
  double div = (vx - m) / wx;
  if (m != 0) {
    if ((wx < 0) != (m < 0)) {
      m += wx;
      div -= 1.0;
    }
  } else {
    m = std::copysign(0.0, wx);
  }
  double fd;
  if (div != 0) {
    fd = std::floor(div);
    if (div - fd > 0.5) fd += 1.0;
  } else {
    fd = std::copysign(0.0, vx / wx);
  }
  *floordiv = fd;
  *mod = m;
}

absl::StatusOr<Value> IntPow(int64_t base, int64_t exp, int line) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return Overflow(line);
    }
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) {
      return Overflow(line);
    }
  }
  return Value::Int(result);
}

absl::StatusOr<Value> Repeat(Renderer& renderer, const Value& seq,
                             int64_t times, int line) {
  times = std::max<int64_t>(times, 0);
  if (seq.is_string()) {
    const size_t unit = seq.str().size();
    if (unit != 0 && static_cast<uint64_t>(times) >
                         renderer.limits().max_output_bytes / unit) {
      return RenderError(
          line, absl::StrCat("string longer than ",
                             renderer.limits().max_output_bytes, " bytes"));
    }
    RETURN_IF_ERROR(
        renderer.ChargeString(unit * static_cast<size_t>(times), line));
    std::string out;
    out.reserve(unit * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return Value::String(std::move(out), seq.markup());
  }
  const size_t unit = seq.list().size();
  if (unit != 0 && static_cast<uint64_t>(times) >
                       renderer.limits().max_container_items / unit) {
    return RenderError(
        line, absl::StrCat("a list or dict of more than ",
                           renderer.limits().max_container_items, " items"));
  }
  RETURN_IF_ERROR(
      renderer.ChargeItems(unit * static_cast<size_t>(times), line));
  ValueList out;
  for (int64_t i = 0; i < times; ++i) {
    out.insert(out.end(), seq.list().begin(), seq.list().end());
  }
  return seq.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                           : Value::List(std::move(out));
}

absl::StatusOr<Value> Add(Renderer& renderer, const Value& a, const Value& b,
                          int line) {
  if (a.is_string() && b.is_string()) {
    const bool markup = a.markup() || b.markup();
    std::string left = a.markup() || !markup ? a.str() : EscapeHtml(a.str());
    const std::string right =
        b.markup() || !markup ? b.str() : EscapeHtml(b.str());
    RETURN_IF_ERROR(renderer.ChargeString(left.size() + right.size(), line));
    left += right;
    return Value::String(std::move(left), markup);
  }
  if (a.is_sequence() && a.kind() == b.kind()) {
    RETURN_IF_ERROR(
        renderer.ChargeItems(a.list().size() + b.list().size(), line));
    ValueList out = a.list();
    out.insert(out.end(), b.list().begin(), b.list().end());
    return a.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                           : Value::List(std::move(out));
  }
  if (a.is_string() || a.is_sequence()) {
    return RenderError(
        line, absl::StrCat("can only concatenate ", a.TypeName(), " (not \"",
                           b.TypeName(), "\") to ", a.TypeName()));
  }
  return Unsupported("+", a, b, line);
}

}  // namespace

absl::StatusOr<Value> BinaryOp(Renderer& renderer, absl::string_view op,
                               const Value& a, const Value& b, int line) {
  if (a.is_undefined()) return UndefinedError(a, line);
  if (b.is_undefined()) return UndefinedError(b, line);
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.is_float() || b.is_float());
  if (op == "+") {
    if (!numbers) return Add(renderer, a, b, line);
    if (floats) return Value::Float(a.AsDouble() + b.AsDouble());
    int64_t r;
    if (__builtin_add_overflow(a.int_value(), b.int_value(), &r)) {
      return Overflow(line);
    }
    return Value::Int(r);
  }
  if (op == "-") {
    if (!numbers) return Unsupported("-", a, b, line);
    if (floats) return Value::Float(a.AsDouble() - b.AsDouble());
    int64_t r;
    if (__builtin_sub_overflow(a.int_value(), b.int_value(), &r)) {
      return Overflow(line);
    }
    return Value::Int(r);
  }
  if (op == "*") {
    if (numbers) {
      if (floats) return Value::Float(a.AsDouble() * b.AsDouble());
      int64_t r;
      if (__builtin_mul_overflow(a.int_value(), b.int_value(), &r)) {
        return Overflow(line);
      }
      return Value::Int(r);
    }
    const bool a_seq = a.is_string() || a.is_sequence();
    const bool b_seq = b.is_string() || b.is_sequence();
    if (a_seq && (b.is_int() || b.is_bool())) {
      return Repeat(renderer, a, b.int_value(), line);
    }
    if (b_seq && (a.is_int() || a.is_bool())) {
      return Repeat(renderer, b, a.int_value(), line);
    }
    if (a_seq && b.is_float()) {
      return RenderError(line, absl::StrCat("can't multiply sequence by "
                                            "non-int of type 'float'"));
    }
    return Unsupported("*", a, b, line);
  }
  if (op == "%" && a.is_string()) {
    ASSIGN_OR_RETURN(std::string text, PercentFormat(a.str(), b, line));
    RETURN_IF_ERROR(renderer.ChargeString(text.size(), line));
    return Value::String(std::move(text));
  }
  if (!numbers) return Unsupported(op, a, b, line);
  if (op == "/") {
    if (b.AsDouble() == 0) return RenderError(line, "division by zero");
    return Value::Float(a.AsDouble() / b.AsDouble());
  }
  if (op == "//" || op == "%") {
    if (b.AsDouble() == 0) {
      return RenderError(line, floats ? "float floor division by zero"
                                      : "integer division or modulo by zero");
    }
    if (floats) {
      double div, mod;
      FloatDivMod(a.AsDouble(), b.AsDouble(), &div, &mod);
      return Value::Float(op == "//" ? div : mod);
    }
    const int64_t x = a.int_value();
    const int64_t y = b.int_value();
    if (x == std::numeric_limits<int64_t>::min() && y == -1) {
      return op == "//" ? absl::StatusOr<Value>(Overflow(line)) : Value::Int(0);
    }
    int64_t q = x / y;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
      r += y;
      q -= 1;
    }
    return Value::Int(op == "//" ? q : r);
  }
  if (op == "**") {
    if (!floats && b.int_value() >= 0) {
      return IntPow(a.int_value(), b.int_value(), line);
    }
    if (a.AsDouble() == 0 && b.AsDouble() < 0) {
      return RenderError(line, "0.0 cannot be raised to a negative power");
    }
    return Value::Float(std::pow(a.AsDouble(), b.AsDouble()));
  }
  return RenderError(line, absl::StrCat("unknown operator ", op));
}

absl::StatusOr<Value> Negate(const Value& v, bool minus, int line) {
  if (v.is_undefined()) return UndefinedError(v, line);
  if (v.is_float())
    return Value::Float(minus ? -v.float_value() : v.float_value());
  if (v.is_int() || v.is_bool()) {
    if (!minus) return Value::Int(v.int_value());
    if (v.int_value() == std::numeric_limits<int64_t>::min()) {
      return Overflow(line);
    }
    return Value::Int(-v.int_value());
  }
  return RenderError(
      line, absl::StrCat("bad operand type for unary ", minus ? "-" : "+",
                         ": '", v.TypeName(), "'"));
}

absl::StatusOr<bool> LessThan(const Value& a, const Value& b, int line) {
  if (a.is_undefined()) return UndefinedError(a, line);
  if (b.is_undefined()) return UndefinedError(b, line);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() < b.AsDouble();
    return a.int_value() < b.int_value();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_sequence() && a.kind() == b.kind()) {
    const ValueList& x = a.list();
    const ValueList& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (PyEquals(x[i], y[i])) continue;
      return LessThan(x[i], y[i], line);
    }
    return x.size() < y.size();
  }
  return RenderError(line,
                     absl::StrCat("'<' not supported between instances of '",
                                  a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::StatusOr<bool> Contains(const Value& haystack, const Value& needle,
                              int line) {
  switch (haystack.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!needle.is_string()) {
        return RenderError(line,
                           absl::StrCat("'in <string>' requires string as "
                                        "left operand, not ",
                                        needle.TypeName()));
      }
      return haystack.str().find(needle.str()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& item : haystack.list()) {
        if (PyEquals(item, needle)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (needle.kind() == Value::Kind::kList || needle.is_dict()) {
        return RenderError(
            line, absl::StrCat("unhashable type: '", needle.TypeName(), "'"));
      }
      return haystack.dict().Find(needle) != nullptr;
    default:
      return RenderError(line,
                         absl::StrCat("argument of type '", haystack.TypeName(),
                                      "' is not iterable"));
  }
}

absl::StatusOr<bool> Compare(absl::string_view op, const Value& a,
                             const Value& b, int line) {
  if (op == "eq") return PyEquals(a, b);
  if (op == "ne") return !PyEquals(a, b);
  if (op == "in") return Contains(b, a, line);
  if (op == "notin") {
    ASSIGN_OR_RETURN(bool in, Contains(b, a, line));
    return !in;
  }
  if (op == "lt") return LessThan(a, b, line);
  if (op == "gt") return LessThan(b, a, line);
  if (op == "lteq" || op == "gteq") {
    const Value& x = op == "lteq" ? a : b;
    const Value& y = op == "lteq" ? b : a;
    ASSIGN_OR_RETURN(bool less, LessThan(x, y, line));
    return less || PyEquals(x, y);
  }
  return RenderError(line, absl::StrCat("unknown comparison ", op));
}

}  // namespace loraplex::chat
