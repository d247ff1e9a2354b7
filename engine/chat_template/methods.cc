// Attribute and item access with ImmutableSandboxedEnvironment's rules, and
// the Python methods of str, list and dict that templates call.
#include <algorithm>
#include <array>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/python_text.h"
#include "engine/chat_template/string_format.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

template <size_t N>
bool OneOf(const std::array<absl::string_view, N>& names,
           absl::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Every attribute Python's str, list and dict have (what getattr finds);
// the ones implemented below are a subset, the rest fail when called.
constexpr std::array<absl::string_view, 47> kStrAttributes = {
    "capitalize",   "casefold",     "center",    "count",     "encode",
    "endswith",     "expandtabs",   "find",      "format",    "format_map",
    "index",        "isalnum",      "isalpha",   "isascii",   "isdecimal",
    "isdigit",      "isidentifier", "islower",   "isnumeric", "isprintable",
    "isspace",      "istitle",      "isupper",   "join",      "ljust",
    "lower",        "lstrip",       "maketrans", "partition", "removeprefix",
    "removesuffix", "replace",      "rfind",     "rindex",    "rjust",
    "rpartition",   "rsplit",       "rstrip",    "split",     "splitlines",
    "startswith",   "strip",        "swapcase",  "title",     "translate",
    "upper",        "zfill"};
constexpr std::array<absl::string_view, 11> kListAttributes = {
    "append", "clear", "copy",   "count",   "extend", "index",
    "insert", "pop",   "remove", "reverse", "sort"};
constexpr std::array<absl::string_view, 11> kDictAttributes = {
    "clear", "copy",    "fromkeys",   "get",    "items", "keys",
    "pop",   "popitem", "setdefault", "update", "values"};
// sandbox.modifies_known_mutable.
constexpr std::array<absl::string_view, 8> kListMutators = {
    "append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"};
constexpr std::array<absl::string_view, 5> kDictMutators = {
    "clear", "pop", "popitem", "setdefault", "update"};

absl::StatusOr<Value> CallMethod(Renderer& renderer, const Value& self,
                                 const std::string& name, CallArgs& args);

class BoundMethod : public Object {
 public:
  BoundMethod(Value self, std::string name)
      : self_(std::move(self)), name_(std::move(name)) {}
  std::string TypeName() const override { return "builtin_function_or_method"; }
  bool callable() const override { return true; }
  std::string Repr() const override {
    return absl::StrCat("<built-in method ", name_, " of ", self_.TypeName(),
                        " object>");
  }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override {
    return CallMethod(renderer, self_, name_, args);
  }

 private:
  Value self_;
  std::string name_;
};

Value Unsafe(const Value& obj, const std::string& name) {
  return Value::Unsafe(absl::StrCat("access to attribute '", name, "' of '",
                                    obj.TypeName(), "' object is unsafe."));
}

Value NoAttribute(const Value& obj, const std::string& name) {
  return Value::Undefined(absl::StrCat(
      "'", obj.TypeName(), " object' has no attribute '", name, "'"));
}

// getattr(obj, name) in the sandbox; nullopt when Python has no such
// attribute (the caller then tries the item).
std::optional<Value> PythonAttribute(const Value& obj,
                                     const std::string& name) {
  if (absl::StartsWith(name, "__") && absl::EndsWith(name, "__")) {
    return Unsafe(obj, name);
  }
  const auto method = [&]() {
    return Value::MakeObject(std::make_shared<BoundMethod>(obj, name));
  };
  switch (obj.kind()) {
    case Value::Kind::kString:
      if (OneOf(kStrAttributes, name)) return method();
      break;
    case Value::Kind::kList:
      if (OneOf(kListMutators, name)) return Unsafe(obj, name);
      if (OneOf(kListAttributes, name)) return method();
      break;
    case Value::Kind::kTuple:
      if (name == "count" || name == "index") return method();
      break;
    case Value::Kind::kDict:
      if (OneOf(kDictMutators, name)) return Unsafe(obj, name);
      if (OneOf(kDictAttributes, name)) return method();
      break;
    case Value::Kind::kObject: {
      Value v = obj.object()->GetAttr(name);
      if (!v.is_undefined()) return v;
      break;
    }
    default:
      break;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> OptionalString(
    const Value& v, absl::string_view what, int line) {
  if (v.is_undefined() || v.is_none()) return std::optional<std::string>();
  if (!v.is_string()) {
    return RenderError(line, absl::StrCat(what, " arg must be None or str"));
  }
  return std::optional<std::string>(v.str());
}

absl::StatusOr<std::string> RequiredString(const Value& v,
                                           absl::string_view what, int line) {
  if (!v.is_string()) {
    return RenderError(line,
                       absl::StrCat(what, " must be str, not ", v.TypeName()));
  }
  return v.str();
}

absl::StatusOr<Value> StringMethod(Renderer& renderer, const std::string& s,
                                   const std::string& name, CallArgs& args) {
  const int line = args.line;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"chars"}, 0, name));
    ASSIGN_OR_RETURN(std::optional<std::string> chars,
                     OptionalString(bound[0], name, line));
    const StripSide side = name == "strip"    ? StripSide::kBoth
                           : name == "lstrip" ? StripSide::kLeft
                                              : StripSide::kRight;
    return Value::String(PyStrip(s, chars, side));
  }
  if (name == "split" || name == "rsplit") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"sep", "maxsplit"}, 0, name));
    ASSIGN_OR_RETURN(std::optional<std::string> sep,
                     OptionalString(bound[0], name, line));
    if (sep && sep->empty()) return RenderError(line, "empty separator");
    int64_t maxsplit = -1;
    if (bound[1].is_int()) maxsplit = bound[1].int_value();
    ValueList parts;
    for (std::string& part : PySplit(s, sep, maxsplit, name == "rsplit")) {
      parts.push_back(Value::String(std::move(part)));
    }
    RETURN_IF_ERROR(renderer.ChargeItems(parts.size(), line));
    return Value::List(std::move(parts));
  }
  if (name == "startswith" || name == "endswith") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"prefix"}, 1, name));
    ValueList candidates;
    if (bound[0].kind() == Value::Kind::kTuple) {
      candidates = bound[0].list();
    } else {
      candidates.push_back(bound[0]);
    }
    for (const Value& candidate : candidates) {
      ASSIGN_OR_RETURN(
          std::string text,
          RequiredString(candidate, absl::StrCat(name, " argument"), line));
      if (name == "startswith" ? absl::StartsWith(s, text)
                               : absl::EndsWith(s, text)) {
        return Value::Bool(true);
      }
    }
    return Value::Bool(false);
  }
  if (name == "upper") return Value::String(PyUpperString(s));
  if (name == "lower") return Value::String(PyLowerString(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" ||
      name == "isspace") {
    const std::u32string text = DecodeUtf8(s);
    bool all = !text.empty();
    for (char32_t c : text) {
      const bool ok = name == "isdigit"   ? IsPyDigit(c)
                      : name == "isalpha" ? IsPyAlpha(c)
                      : name == "isalnum" ? IsPyAlpha(c) || IsPyDigit(c)
                                          : IsPySpace(c);
      all = all && ok;
    }
    return Value::Bool(all);
  }
  if (name == "islower") return Value::Bool(PyIsLower(s));
  if (name == "isupper") return Value::Bool(PyIsUpper(s));
  if (name == "replace") {
    ASSIGN_OR_RETURN(ValueList bound,
                     BindArgs(args, {"old", "new", "count"}, 2, name));
    ASSIGN_OR_RETURN(std::string old_text,
                     RequiredString(bound[0], "replace() argument 1", line));
    ASSIGN_OR_RETURN(std::string new_text,
                     RequiredString(bound[1], "replace() argument 2", line));
    const int64_t count = bound[2].is_int() ? bound[2].int_value() : -1;
    std::string out = PyReplace(s, old_text, new_text, count);
    RETURN_IF_ERROR(renderer.ChargeString(out.size(), line));
    return Value::String(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" ||
      name == "rindex" || name == "count") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"sub"}, 1, name));
    ASSIGN_OR_RETURN(std::string sub,
                     RequiredString(bound[0], "substring", line));
    if (name == "count") return Value::Int(PyCount(s, sub));
    const int64_t at = PyFind(s, sub, name[0] == 'r');
    if (at < 0 && (name == "index" || name == "rindex")) {
      return RenderError(line, "substring not found");
    }
    return Value::Int(at);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"affix"}, 1, name));
    ASSIGN_OR_RETURN(std::string affix, RequiredString(bound[0], name, line));
    if (name == "removeprefix" && absl::StartsWith(s, affix)) {
      return Value::String(s.substr(affix.size()));
    }
    if (name == "removesuffix" && absl::EndsWith(s, affix)) {
      return Value::String(s.substr(0, s.size() - affix.size()));
    }
    return Value::String(s);
  }
  if (name == "join") {
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"iterable"}, 1, name));
    ASSIGN_OR_RETURN(ValueList items, Iterate(bound[0], line));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return RenderError(
            line, absl::StrCat("sequence item ", i, ": expected str instance, ",
                               items[i].TypeName(), " found"));
      }
      if (i > 0) out += s;
      out += items[i].str();
      RETURN_IF_ERROR(renderer.ChargeString(out.size(), line));
    }
    return Value::String(std::move(out));
  }
  if (name == "splitlines") {
    ValueList lines;
    for (std::string& l : PySplitLines(s))
      lines.push_back(Value::String(std::move(l)));
    return Value::List(std::move(lines));
  }
  if (name == "format") {
    ASSIGN_OR_RETURN(std::string out, BraceFormat(s, args));
    RETURN_IF_ERROR(renderer.ChargeString(out.size(), line));
    return Value::String(std::move(out));
  }
  return RenderError(line,
                     absl::StrCat("str method '", name, "' is not supported"));
}

absl::StatusOr<Value> CallMethod(Renderer& renderer, const Value& self,
                                 const std::string& name, CallArgs& args) {
  const int line = args.line;
  if (self.is_string()) return StringMethod(renderer, self.str(), name, args);
  if (self.is_sequence()) {
    if (name == "copy") return Value::List(self.list());
    ASSIGN_OR_RETURN(ValueList bound, BindArgs(args, {"value"}, 1, name));
    int64_t count = 0;
    for (size_t i = 0; i < self.list().size(); ++i) {
      if (!PyEquals(self.list()[i], bound[0])) continue;
      if (name == "index") return Value::Int(static_cast<int64_t>(i));
      ++count;
    }
    if (name == "index") {
      return RenderError(line,
                         absl::StrCat(PyRepr(bound[0]), " is not in list"));
    }
    return Value::Int(count);
  }
  if (self.is_dict()) {
    const Dict& dict = self.dict();
    if (name == "get") {
      ASSIGN_OR_RETURN(ValueList bound,
                       BindArgs(args, {"key", "default"}, 1, name));
      const Value* found = dict.Find(bound[0]);
      if (found != nullptr) return *found;
      return bound[1].is_undefined() ? Value::None() : bound[1];
    }
    RETURN_IF_ERROR(BindArgs(args, {}, 0, name).status());
    if (name == "copy") return self;  // Values are immutable: one copy.
    ValueList out;
    for (const auto& [key, value] : dict.items()) {
      if (name == "keys") {
        out.push_back(key);
      } else if (name == "values") {
        out.push_back(value);
      } else {
        out.push_back(Value::Tuple({key, value}));
      }
    }
    if (name == "keys" || name == "values" || name == "items") {
      return Value::List(std::move(out));
    }
  }
  return RenderError(line, absl::StrCat(self.TypeName(), " method '", name,
                                        "' is not supported"));
}

}  // namespace

absl::Status UndefinedError(const Value& v, int line) {
  std::string hint = v.undefined_hint();
  if (hint.empty()) hint = "value is undefined";
  return RenderError(line, hint);
}

absl::StatusOr<Value> GetAttribute(const Value& obj, const std::string& name,
                                   int line) {
  if (obj.is_undefined()) return UndefinedError(obj, line);
  if (std::optional<Value> attr = PythonAttribute(obj, name)) return *attr;
  if (obj.is_dict()) {
    const Value* found = obj.dict().Find(Value::String(name));
    if (found != nullptr) return *found;
  }
  return NoAttribute(obj, name);
}

absl::StatusOr<Value> GetItem(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) return UndefinedError(obj, line);
  if (obj.is_dict()) {
    if (const Value* found = obj.dict().Find(key)) return *found;
  } else if ((obj.is_sequence() || obj.is_string()) &&
             (key.is_int() || key.is_bool())) {
    const int64_t length = obj.is_string()
                               ? static_cast<int64_t>(CodePointCount(obj.str()))
                               : static_cast<int64_t>(obj.list().size());
    int64_t index = key.int_value();
    if (index < 0) index += length;
    if (index >= 0 && index < length) {
      if (!obj.is_string()) return obj.list()[static_cast<size_t>(index)];
      const std::u32string text = DecodeUtf8(obj.str());
      return Value::String(
          EncodeUtf8(text.substr(static_cast<size_t>(index), 1)));
    }
    return Value::Undefined(absl::StrCat(
        "'", obj.TypeName(), " object' has no element ", key.int_value()));
  }
  if (key.is_string()) {
    if (std::optional<Value> attr = PythonAttribute(obj, key.str()))
      return *attr;
    return NoAttribute(obj, key.str());
  }
  return Value::Undefined(absl::StrCat(
      "'", obj.TypeName(), " object' has no element ", PyRepr(key)));
}

absl::StatusOr<std::string> ToOutput(const Value& v, int line) {
  (void)line;
  return PyStr(v);
}

absl::StatusOr<ValueList> Iterate(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return ValueList();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return v.list();
    case Value::Kind::kDict: {
      ValueList keys;
      keys.reserve(v.dict().size());
      for (const auto& item : v.dict().items()) keys.push_back(item.first);
      return keys;
    }
    case Value::Kind::kString: {
      ValueList chars;
      for (char32_t c : DecodeUtf8(v.str())) {
        chars.push_back(Value::String(EncodeUtf8(std::u32string(1, c))));
      }
      return chars;
    }
    default:
      return RenderError(
          line, absl::StrCat("'", v.TypeName(), "' object is not iterable"));
  }
}

}  // namespace loraplex::chat
