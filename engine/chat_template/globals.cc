// The global functions of transformers' template environment: Jinja's
// range (sandboxed), dict and namespace, and transformers' raise_exception
// and strftime_now.
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

// namespace(...): the one mutable object ({% set ns.attr = value %}).
class NamespaceObject : public Object {
 public:
  explicit NamespaceObject(Dict attributes)
      : attributes_(std::move(attributes)) {}
  std::string TypeName() const override { return "Namespace"; }
  Value GetAttr(const std::string& name) const override {
    const Value* v = attributes_.Find(Value::String(name));
    if (v != nullptr) return *v;
    return Value::Undefined(
        absl::StrCat("'Namespace object' has no attribute '", name, "'"));
  }
  bool SetAttr(const std::string& name, Value value) override {
    attributes_.Set(Value::String(name), std::move(value));
    return true;
  }
  const Dict* attributes() const override { return &attributes_; }
  void ReleaseValues() override { attributes_ = Dict(); }

 private:
  Dict attributes_;
};

using Builtin = absl::StatusOr<Value> (*)(Renderer&, CallArgs&);

class BuiltinFunction : public Object {
 public:
  BuiltinFunction(std::string name, Builtin fn)
      : name_(std::move(name)), fn_(fn) {}
  std::string TypeName() const override { return "function"; }
  bool callable() const override { return true; }
  std::string Repr() const override { return "<function " + name_ + ">"; }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override {
    return fn_(renderer, args);
  }

 private:
  std::string name_;
  Builtin fn_;
};

// dict(mapping_or_pairs, **kwargs), as Python builds it.
absl::StatusOr<Dict> DictFromArgs(const CallArgs& args,
                                  absl::string_view name) {
  if (args.positional.size() > 1) {
    return RenderError(args.line,
                       absl::StrCat(name, " expected at most 1 argument"));
  }
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.dict();
    } else {
      ASSIGN_OR_RETURN(ValueList pairs, Iterate(source, args.line));
      for (const Value& pair : pairs) {
        ASSIGN_OR_RETURN(ValueList kv, Iterate(pair, args.line));
        if (kv.size() != 2) {
          return RenderError(args.line,
                             "dictionary update sequence element "
                             "has the wrong length; 2 is required");
        }
        dict.Set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword)
    dict.Set(Value::String(key), value);
  return dict;
}

absl::StatusOr<Value> Range(Renderer& renderer, CallArgs& args) {
  if (!args.keyword.empty() || args.positional.empty() ||
      args.positional.size() > 3) {
    return RenderError(args.line, "range() takes 1 to 3 integer arguments");
  }
  int64_t bounds[3] = {0, 0, 1};
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const Value& v = args.positional[i];
    if (!v.is_int() && !v.is_bool()) {
      return RenderError(args.line,
                         absl::StrCat("'", v.TypeName(),
                                      "' object cannot be interpreted "
                                      "as an integer"));
    }
  }
  if (args.positional.size() == 1) {
    bounds[1] = args.positional[0].int_value();
  } else {
    for (size_t i = 0; i < args.positional.size(); ++i) {
      bounds[i] = args.positional[i].int_value();
    }
  }
  const int64_t start = bounds[0], stop = bounds[1], step = bounds[2];
  if (step == 0)
    return RenderError(args.line, "range() arg 3 must not be zero");
  // Length as Python computes it, in 128 bits so no bound overflows.
  __int128 length = 0;
  if (step > 0 && start < stop) {
    length = ((__int128)stop - start - 1) / step + 1;
  } else if (step < 0 && start > stop) {
    length = ((__int128)start - stop - 1) / (-(__int128)step) + 1;
  }
  if (length > renderer.limits().max_range) {
    return RenderError(args.line,
                       absl::StrCat("Range too big. The sandbox blocks ranges "
                                    "larger than MAX_RANGE (",
                                    renderer.limits().max_range, ")."));
  }
  RETURN_IF_ERROR(renderer.ChargeItems(static_cast<size_t>(length), args.line));
  ValueList items;
  items.reserve(static_cast<size_t>(length));
  for (int64_t i = 0; i < static_cast<int64_t>(length); ++i) {
    items.push_back(Value::Int(start + i * step));
  }
  return Value::List(std::move(items));
}

absl::StatusOr<Value> MakeNamespace(Renderer& renderer, CallArgs& args) {
  ASSIGN_OR_RETURN(Dict dict, DictFromArgs(args, "namespace"));
  auto ns = std::make_shared<NamespaceObject>(std::move(dict));
  renderer.AdoptMutable(ns);
  return Value::MakeObject(std::move(ns));
}

absl::StatusOr<Value> MakeDictValue(Renderer& renderer, CallArgs& args) {
  ASSIGN_OR_RETURN(Dict dict, DictFromArgs(args, "dict"));
  return Value::MakeDict(std::move(dict));
}

absl::StatusOr<Value> RaiseException(Renderer& renderer, CallArgs& args) {
  ASSIGN_OR_RETURN(ValueList bound,
                   BindArgs(args, {"message"}, 1, "raise_exception"));
  return TemplateRaisedError(PyStr(bound[0]));
}

// datetime.now().strftime(fmt), C locale, the server's local time zone.
absl::StatusOr<Value> StrftimeNow(Renderer& renderer, CallArgs& args) {
  ASSIGN_OR_RETURN(ValueList bound,
                   BindArgs(args, {"format"}, 1, "strftime_now"));
  if (!bound[0].is_string()) {
    return RenderError(args.line, "strftime_now() argument must be str");
  }
  const std::string& format = bound[0].str();
  if (format.empty()) return Value::String("");
  if (format.size() > 256) {
    return RenderError(args.line,
                       "strftime_now() format longer than 256 bytes");
  }
  const std::tm tm = absl::ToTM(renderer.now(), absl::LocalTimeZone());
  char buf[4096];
  const size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &tm);
  if (n == 0) {
    return RenderError(args.line, "strftime_now() result too long or empty");
  }
  return Value::String(std::string(buf, n));
}

Value Function(const char* name, Builtin fn) {
  return Value::MakeObject(std::make_shared<BuiltinFunction>(name, fn));
}

}  // namespace

bool IsUnsupportedGlobal(absl::string_view name) {
  return name == "lipsum" || name == "cycler" || name == "joiner";
}

Renderer::Frame MakeGlobals() {
  Renderer::Frame globals;
  globals["range"] = Function("range", &Range);
  globals["namespace"] = Function("namespace", &MakeNamespace);
  globals["dict"] = Function("dict", &MakeDictValue);
  globals["raise_exception"] = Function("raise_exception", &RaiseException);
  globals["strftime_now"] = Function("strftime_now", &StrftimeNow);
  return globals;
}

}  // namespace loraplex::chat
