// Jinja's built-in filters (jinja2/filters.py) that chat templates use, and
// transformers' `tojson`.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/operators.h"
#include "engine/chat_template/python_text.h"
#include "engine/chat_template/string_format.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

constexpr std::array<absl::string_view, 40> kFilters = {
    "abs",     "attr",       "capitalize", "center",  "count", "d",
    "default", "dictsort",   "e",          "escape",  "first", "float",
    "format",  "indent",     "int",        "items",   "join",  "last",
    "length",  "list",       "lower",      "map",     "max",   "min",
    "reject",  "rejectattr", "replace",    "reverse", "round", "safe",
    "select",  "selectattr", "sort",       "string",  "sum",   "title",
    "tojson",  "trim",       "unique",     "upper"};

Value Str(std::string s) { return Value::String(std::move(s)); }

// make_attrgetter: "a.b.0" looked up part by part with getitem.
absl::StatusOr<Value> AttrPath(const Value& item, const Value& attribute,
                               const Value* default_value, int line) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    for (std::string& part :
         PySplit(attribute.str(), std::string("."), -1, false)) {
      int64_t index = 0;
      const bool digits =
          !part.empty() &&
          part.find_first_not_of("0123456789") == std::string::npos;
      if (digits && absl::SimpleAtoi(part, &index)) {
        parts.push_back(Value::Int(index));
      } else {
        parts.push_back(Str(std::move(part)));
      }
    }
  } else if (!attribute.is_undefined() && !attribute.is_none()) {
    parts.push_back(attribute);
  }
  Value v = item;
  for (const Value& part : parts) {
    ASSIGN_OR_RETURN(v, GetItem(v, part, line));
    if (default_value != nullptr && v.is_undefined()) v = *default_value;
  }
  return v;
}

// Jinja's ignore_case postprocess for sort keys.
Value Folded(const Value& v, bool case_sensitive) {
  if (case_sensitive || !v.is_string()) return v;
  return Str(PyLowerString(v.str()));
}

// Python's stable sort of `items` by `keys`, failing like Python on
// incomparable keys.
absl::StatusOr<ValueList> SortBy(ValueList items, const ValueList& keys,
                                 bool reverse, int line) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  absl::Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (!error.ok()) return false;
    absl::StatusOr<bool> less = reverse ? LessThan(keys[b], keys[a], line)
                                        : LessThan(keys[a], keys[b], line);
    if (!less.ok()) {
      error = less.status();
      return false;
    }
    return *less;
  });
  RETURN_IF_ERROR(error);
  ValueList sorted;
  for (size_t i : order) sorted.push_back(items[i]);
  return sorted;
}

absl::StatusOr<Value> Length(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return Value::Int(0);
    case Value::Kind::kString:
      return Value::Int(static_cast<int64_t>(CodePointCount(v.str())));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return Value::Int(static_cast<int64_t>(v.list().size()));
    case Value::Kind::kDict:
      return Value::Int(static_cast<int64_t>(v.dict().size()));
    default:
      return RenderError(line, absl::StrCat("object of type '", v.TypeName(),
                                            "' has no len()"));
  }
}

// Python's int(str): optional sign, digits with single underscores,
// surrounding whitespace.
std::optional<int64_t> ParsePyInt(const std::string& text) {
  std::string s = PyStrip(text, std::nullopt, StripSide::kBoth);
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 &&
        std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    digits += s[i];
  }
  int64_t value = 0;
  if (digits.empty() || !absl::SimpleAtoi(digits, &value)) return std::nullopt;
  if (digits.find_first_not_of("+-0123456789") != std::string::npos)
    return std::nullopt;
  return value;
}

std::optional<double> ParsePyFloat(const std::string& text) {
  const std::string s = PyStrip(text, std::nullopt, StripSide::kBoth);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

absl::StatusOr<Value> ToInt(const Value& v, const Value& default_value) {
  const Value fallback =
      default_value.is_undefined() ? Value::Int(0) : default_value;
  if (v.is_int() || v.is_bool()) return Value::Int(v.int_value());
  if (v.is_float()) {
    if (!std::isfinite(v.float_value()) ||
        std::abs(v.float_value()) >= 9.2e18) {
      return fallback;
    }
    return Value::Int(static_cast<int64_t>(std::trunc(v.float_value())));
  }
  if (v.is_string()) {
    if (std::optional<int64_t> i = ParsePyInt(v.str())) return Value::Int(*i);
    if (std::optional<double> d = ParsePyFloat(v.str())) {
      if (std::isfinite(*d) && std::abs(*d) < 9.2e18) {
        return Value::Int(static_cast<int64_t>(std::trunc(*d)));
      }
    }
  }
  return fallback;
}

absl::StatusOr<Value> ToFloat(const Value& v, const Value& default_value) {
  const Value fallback =
      default_value.is_undefined() ? Value::Float(0.0) : default_value;
  if (v.is_number()) return Value::Float(v.AsDouble());
  if (v.is_string()) {
    if (std::optional<double> d = ParsePyFloat(v.str()))
      return Value::Float(*d);
  }
  return fallback;
}

// Python's round(x, n): correctly rounded, ties to even on the exact binary
// value, which is what "%.*f" then strtod give.
Value Round(const Value& v, int64_t precision, const std::string& method) {
  if (!v.is_float()) {
    if (method == "common" && precision >= 0) return Value::Int(v.int_value());
  }
  const double x = v.AsDouble();
  if (method == "common") {
    if (precision < 0 || precision > 300) {
      const double scale = std::pow(10.0, static_cast<double>(precision));
      return Value::Float(std::nearbyint(x * scale) / scale);
    }
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), x);
    return Value::Float(std::strtod(buf, nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double r =
      method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale);
  return Value::Float(r / scale);
}

std::string Indent(const std::string& s, const Value& width, bool first,
                   bool blank) {
  const std::string indention =
      width.is_string()
          ? width.str()
          : std::string(static_cast<size_t>(std::max<int64_t>(
                            0, width.is_undefined() ? 4 : width.int_value())),
                        ' ');
  const std::vector<std::string> lines = PySplitLines(s + "\n");
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) rv += "\n" + indention;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
    }
  }
  if (first) rv = indention + rv;
  return rv;
}

// jinja's do_title: capitalise after runs of - whitespace ( { [ <.
std::string JinjaTitle(const std::string& s) {
  const std::u32string in = DecodeUtf8(s);
  std::u32string out;
  bool word_start = true;
  for (char32_t c : in) {
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' ||
                           c == '<' || IsPySpace(c);
    if (separator) {
      out += c;
      word_start = true;
    } else if (word_start) {
      out += DecodeUtf8(PyUpperString(EncodeUtf8(std::u32string(1, c))));
      word_start = false;
    } else {
      out += DecodeUtf8(PyLowerString(EncodeUtf8(std::u32string(1, c))));
    }
  }
  return EncodeUtf8(out);
}

absl::StatusOr<Value> ToJson(const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(
      ValueList bound,
      BindArgs(args, {"ensure_ascii", "indent", "separators", "sort_keys"}, 0,
               "tojson"));
  JsonDumpsOptions options;
  if (!bound[0].is_undefined()) options.ensure_ascii = bound[0].Truthy();
  const Value& indent = bound[1];
  if (indent.is_int()) {
    options.indent = std::string(
        static_cast<size_t>(std::max<int64_t>(0, indent.int_value())), ' ');
  } else if (indent.is_string()) {
    options.indent = indent.str();
  } else if (!indent.is_undefined() && !indent.is_none()) {
    return RenderError(args.line, "tojson: indent must be an int or a string");
  }
  const Value& separators = bound[2];
  if (separators.is_sequence() && separators.list().size() == 2 &&
      separators.list()[0].is_string() && separators.list()[1].is_string()) {
    options.separators = {separators.list()[0].str(),
                          separators.list()[1].str()};
  } else if (!separators.is_undefined() && !separators.is_none()) {
    return RenderError(args.line,
                       "tojson: separators must be a pair of strings");
  }
  options.sort_keys = bound[3].Truthy();
  absl::StatusOr<std::string> text = JsonDumps(v, options);
  if (!text.ok()) return RenderError(args.line, text.status().message());
  return Str(*std::move(text));
}

// select/reject/selectattr/rejectattr.
absl::StatusOr<Value> SelectOrReject(Renderer& renderer, const Value& v,
                                     CallArgs& args, bool select,
                                     bool by_attr) {
  size_t off = 0;
  Value attribute;
  if (by_attr) {
    if (args.positional.empty()) {
      return RenderError(args.line, "Missing parameter for attribute name");
    }
    attribute = args.positional[0];
    off = 1;
  }
  std::string test;
  CallArgs test_args;
  test_args.line = args.line;
  if (args.positional.size() > off) {
    if (!args.positional[off].is_string()) {
      return RenderError(args.line, "the test name must be a string");
    }
    test = args.positional[off].str();
    if (!IsSupportedTest(test)) {
      return RenderError(args.line,
                         absl::StrCat("test '", test, "' is not supported"));
    }
    test_args.positional.assign(
        args.positional.begin() + static_cast<long>(off) + 1,
        args.positional.end());
    test_args.keyword = args.keyword;
  }
  ASSIGN_OR_RETURN(ValueList items, Iterate(v, args.line));
  ValueList out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attr) {
      ASSIGN_OR_RETURN(subject, AttrPath(item, attribute, nullptr, args.line));
    }
    bool pass = subject.Truthy();
    if (!test.empty()) {
      CallArgs call = test_args;
      ASSIGN_OR_RETURN(pass, ApplyTest(renderer, test, subject, call));
    }
    if (pass == select) out.push_back(item);
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> Map(Renderer& renderer, const Value& v, CallArgs& args) {
  ASSIGN_OR_RETURN(ValueList items, Iterate(v, args.line));
  ValueList out;
  const Value* attribute = nullptr;
  const Value* default_value = nullptr;
  for (const auto& [key, value] : args.keyword) {
    if (key == "attribute") attribute = &value;
    if (key == "default") default_value = &value;
  }
  if (attribute != nullptr) {
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(Value mapped,
                       AttrPath(item, *attribute, default_value, args.line));
      out.push_back(std::move(mapped));
    }
    return Value::List(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    return RenderError(args.line, "map needs a filter name or attribute=");
  }
  const std::string filter = args.positional[0].str();
  if (!IsSupportedFilter(filter)) {
    return RenderError(args.line,
                       absl::StrCat("filter '", filter, "' is not supported"));
  }
  CallArgs filter_args = args;
  filter_args.positional.erase(filter_args.positional.begin());
  for (const Value& item : items) {
    CallArgs call = filter_args;
    ASSIGN_OR_RETURN(Value mapped, ApplyFilter(renderer, filter, item, call));
    out.push_back(std::move(mapped));
  }
  return Value::List(std::move(out));
}

// sort, unique, min, max (case-insensitive by default, optional attribute).
absl::StatusOr<ValueList> SortKeys(const ValueList& items,
                                   const Value& attribute, bool case_sensitive,
                                   int line) {
  ValueList keys;
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(Value key, AttrPath(item, attribute, nullptr, line));
    keys.push_back(Folded(key, case_sensitive));
  }
  return keys;
}

}  // namespace

bool IsSupportedFilter(absl::string_view name) {
  return std::find(kFilters.begin(), kFilters.end(), name) != kFilters.end();
}

absl::StatusOr<Value> ApplyFilter(Renderer& renderer, const std::string& name,
                                  const Value& v, CallArgs& args) {
  const int line = args.line;
  if (name == "tojson") return ToJson(v, args);
  if (name == "length" || name == "count") return Length(v, line);
  if (name == "default" || name == "d") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"default_value", "boolean"}, 0, name));
    const Value fallback = bound[0].is_undefined() ? Str("") : bound[0];
    if (v.is_undefined() || (bound[1].Truthy() && !v.Truthy())) return fallback;
    return v;
  }
  if (name == "map") return Map(renderer, v, args);
  if (name == "select" || name == "reject") {
    return SelectOrReject(renderer, v, args, name == "select", false);
  }
  if (name == "selectattr" || name == "rejectattr") {
    return SelectOrReject(renderer, v, args, name == "selectattr", true);
  }
  if (name == "trim") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"chars"}, 0, name));
    std::optional<std::string> chars;
    if (bound[0].is_string()) chars = bound[0].str();
    return Str(PyStrip(PyStr(v), chars, StripSide::kBoth));
  }
  if (name == "upper") return Str(PyUpperString(PyStr(v)));
  if (name == "lower") return Str(PyLowerString(PyStr(v)));
  if (name == "capitalize") return Str(PyCapitalize(PyStr(v)));
  if (name == "title") return Str(JinjaTitle(PyStr(v)));
  if (name == "string") return v.is_string() ? v : Str(PyStr(v));
  if (name == "safe") return Value::String(PyStr(v), /*markup=*/true);
  if (name == "escape" || name == "e") {
    if (v.is_string() && v.markup()) return v;
    return Value::String(EscapeHtml(PyStr(v)), /*markup=*/true);
  }
  if (name == "replace") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"old", "new", "count"}, 2, name));
    const int64_t count = bound[2].is_int() ? bound[2].int_value() : -1;
    std::string out =
        PyReplace(PyStr(v), PyStr(bound[0]), PyStr(bound[1]), count);
    RETURN_IF_ERROR(renderer.ChargeString(out.size(), line));
    return Str(std::move(out));
  }
  if (name == "join") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"d", "attribute"}, 0, name));
    ASSIGN_OR_RETURN(ValueList items, Iterate(v, line));
    const std::string sep = bound[0].is_undefined() ? "" : PyStr(bound[0]);
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      Value item = items[i];
      if (!bound[1].is_undefined()) {
        ASSIGN_OR_RETURN(item, AttrPath(item, bound[1], nullptr, line));
      }
      if (i > 0) out += sep;
      out += PyStr(item);
      RETURN_IF_ERROR(renderer.ChargeString(out.size(), line));
    }
    return Str(std::move(out));
  }
  if (name == "first" || name == "last") {
    if (v.is_undefined()) return v;
    ASSIGN_OR_RETURN(ValueList items, Iterate(v, line));
    if (items.empty()) {
      return Value::Undefined(
          absl::StrCat("No ", name, " item, sequence was empty."));
    }
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v, line));
    RETURN_IF_ERROR(renderer.ChargeItems(items.size(), line));
    return Value::List(std::move(items));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::u32string text = DecodeUtf8(v.str());
      std::reverse(text.begin(), text.end());
      return Str(EncodeUtf8(text));
    }
    ASSIGN_OR_RETURN(ValueList items, Iterate(v, line));
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::List({});
    if (!v.is_dict()) {
      return RenderError(line, "Can only get item pairs from a mapping.");
    }
    ValueList out;
    for (const auto& [key, value] : v.dict().items()) {
      out.push_back(Value::Tuple({key, value}));
    }
    return Value::List(std::move(out));
  }
  if (name == "dictsort") {
    ASSIGN_OR_RETURN(
        ValueList bound,
        BindArgs(args, {"case_sensitive", "by", "reverse"}, 0, name));
    if (!v.is_dict()) return RenderError(line, "dictsort needs a mapping");
    const bool by_value = bound[1].is_string() && bound[1].str() == "value";
    ValueList items, keys;
    for (const auto& [key, value] : v.dict().items()) {
      items.push_back(Value::Tuple({key, value}));
      keys.push_back(Folded(by_value ? value : key, bound[0].Truthy()));
    }
    ASSIGN_OR_RETURN(ValueList sorted,
                     SortBy(items, keys, bound[2].Truthy(), line));
    return Value::List(std::move(sorted));
  }
  if (name == "sort" || name == "unique" || name == "min" || name == "max") {
    const bool sort = name == "sort";
    ASSIGN_OR_RETURN(
        ValueList bound,
        sort ? BindArgs(args, {"reverse", "case_sensitive", "attribute"}, 0,
                        name)
             : BindArgs(args, {"case_sensitive", "attribute"}, 0, name));
    const Value& case_sensitive = sort ? bound[1] : bound[0];
    const Value& attribute = sort ? bound[2] : bound[1];
    ASSIGN_OR_RETURN(ValueList items, Iterate(v, line));
    ASSIGN_OR_RETURN(ValueList keys,
                     SortKeys(items, attribute, case_sensitive.Truthy(), line));
    if (sort) {
      ASSIGN_OR_RETURN(ValueList sorted,
                       SortBy(items, keys, bound[0].Truthy(), line));
      return Value::List(std::move(sorted));
    }
    if (name == "unique") {
      ValueList out, seen;
      for (size_t i = 0; i < items.size(); ++i) {
        ASSIGN_OR_RETURN(bool already,
                         Contains(Value::List(seen), keys[i], line));
        if (already) continue;
        seen.push_back(keys[i]);
        out.push_back(items[i]);
      }
      return Value::List(std::move(out));
    }
    if (items.empty()) {
      return Value::Undefined("No aggregated item, sequence was empty.");
    }
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
      ASSIGN_OR_RETURN(bool better, name == "min"
                                        ? LessThan(keys[i], keys[best], line)
                                        : LessThan(keys[best], keys[i], line));
      if (better) best = i;
    }
    return items[best];
  }
  if (name == "sum") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"attribute", "start"}, 0, name));
    ASSIGN_OR_RETURN(ValueList items, Iterate(v, line));
    Value total = bound[1].is_undefined() ? Value::Int(0) : bound[1];
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(Value x, AttrPath(item, bound[0], nullptr, line));
      ASSIGN_OR_RETURN(total, BinaryOp(renderer, "+", total, x, line));
    }
    return total;
  }
  if (name == "abs") {
    if (v.is_float()) return Value::Float(std::abs(v.float_value()));
    if (v.is_int() || v.is_bool()) return Negate(v, v.int_value() < 0, line);
    return RenderError(
        line, absl::StrCat("bad operand type for abs(): '", v.TypeName(), "'"));
  }
  if (name == "round") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"precision", "method"}, 0, name));
    if (!v.is_number()) {
      return RenderError(line,
                         absl::StrCat("type ", v.TypeName(),
                                      " doesn't define __round__ method"));
    }
    const std::string method = bound[1].is_string() ? bound[1].str() : "common";
    if (method != "common" && method != "ceil" && method != "floor") {
      return RenderError(line, "method must be common, ceil or floor");
    }
    return Round(v, bound[0].is_int() ? bound[0].int_value() : 0, method);
  }
  if (name == "int") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"default", "base"}, 0, name));
    if (!bound[1].is_undefined() &&
        !(bound[1].is_int() && bound[1].int_value() == 10)) {
      return RenderError(line, "int filter: only base 10 is supported");
    }
    return ToInt(v, bound[0]);
  }
  if (name == "float") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"default"}, 0, name));
    return ToFloat(v, bound[0]);
  }
  if (name == "indent") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"width", "first", "blank"}, 0, name));
    std::string out =
        Indent(PyStr(v), bound[0], bound[1].Truthy(), bound[2].Truthy());
    RETURN_IF_ERROR(renderer.ChargeString(out.size(), line));
    return Str(std::move(out));
  }
  if (name == "center") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"width"}, 0, name));
    const std::string s = PyStr(v);
    const int64_t width = bound[0].is_int() ? bound[0].int_value() : 80;
    const auto length = static_cast<int64_t>(CodePointCount(s));
    if (width <= length) return Str(s);
    if (width > static_cast<int64_t>(renderer.limits().max_output_bytes)) {
      return RenderError(line, "center: width too large");
    }
    const int64_t pad = width - length;
    const int64_t left = pad / 2 + (pad & width & 1);
    return Str(std::string(static_cast<size_t>(left), ' ') + s +
               std::string(static_cast<size_t>(pad - left), ' '));
  }
  if (name == "attr") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"name"}, 1, name));
    if (!bound[0].is_string())
      return RenderError(line, "attr: name must be a string");
    return GetAttribute(v, bound[0].str(), line);
  }
  if (name == "format") {
    if (!args.keyword.empty()) {
      return RenderError(line,
                         "format filter: keyword arguments are not supported");
    }
    ASSIGN_OR_RETURN(
        std::string out,
        PercentFormat(PyStr(v), Value::Tuple(args.positional), line));
    return Str(std::move(out));
  }
  return RenderError(line,
                     absl::StrCat("filter '", name, "' is not supported"));
}

}  // namespace loraplex::chat
