// The values a chat template computes with, modelled on the Python objects
// Jinja2 hands around: Undefined, None, bool, int, float, str, list, tuple,
// dict, and a few objects (namespace(), `loop`, macros, bound methods).
//
// Note [Immutable values]: strings, lists and dicts are shared, never
// mutated after they are built (ImmutableSandboxedEnvironment forbids
// mutating them too); copying a Value copies a pointer. The one mutable
// thing is a namespace() object, which `{% set ns.attr = ... %}` writes.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_VALUE_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loraplex::chat {

class Value;
class Object;

using ValueList = std::vector<Value>;

// A Python dict: insertion-ordered, keys hashed by their Python equality
// (1, 1.0 and True are one key).
class Dict {
 public:
  // Inserts or replaces; keeps the first insertion's position.
  void Set(const Value& key, Value value);
  // nullptr when absent.
  const Value* Find(const Value& key) const;
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<Value, Value>> items_;
  std::unordered_map<std::string, size_t> index_;
};

class Value {
 public:
  // Order matters only for readability; type names are in TypeName().
  enum class Kind {
    kUndefined,  // Jinja's lenient Undefined: prints "", falsy, iterable.
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kObject,  // Namespace, loop, macro, function, bound method.
  };

  Value() = default;  // Undefined.
  static Value Undefined(std::string hint = "");
  // An undefined that refuses every use with a sandbox message, as
  // ImmutableSandboxedEnvironment's unsafe_undefined does.
  static Value Unsafe(std::string message);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s, bool markup = false);
  static Value List(ValueList items);
  static Value Tuple(ValueList items);
  static Value MakeDict(Dict dict);
  static Value MakeObject(std::shared_ptr<Object> object);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  // int, float or bool (Python's numbers.Number).
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool;
  }
  bool is_sequence() const {
    return kind_ == Kind::kList || kind_ == Kind::kTuple;
  }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool bool_value() const { return b_; }
  int64_t int_value() const { return i_; }  // Also for bool (0/1).
  double float_value() const { return d_; }
  // int, bool or float as a double.
  double AsDouble() const { return kind_ == Kind::kFloat ? d_ : double(i_); }
  const std::string& str() const { return *s_; }
  bool markup() const { return markup_; }  // A markupsafe.Markup string.
  const ValueList& list() const { return *list_; }
  const Dict& dict() const { return *dict_; }
  const std::shared_ptr<Object>& object() const { return object_; }
  // Why it is undefined ("'x' is undefined"), for error messages.
  std::string undefined_hint() const { return s_ ? *s_ : std::string(); }
  bool unsafe() const { return markup_ && kind_ == Kind::kUndefined; }

  // Python's bool(x).
  bool Truthy() const;
  // Python's type(x).__name__ ("str", "NoneType", "dict", ...).
  std::string TypeName() const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool markup_ = false;  // For kUndefined: the unsafe flag.
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<const ValueList> list_;
  std::shared_ptr<const Dict> dict_;
  std::shared_ptr<Object> object_;
};

class Renderer;
struct CallArgs;

// Objects other than the plain Python data types. Not thread-safe; each
// render builds its own.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string TypeName() const = 0;
  // The attribute `name`, or Undefined.
  virtual Value GetAttr(const std::string& name) const {
    return Value::Undefined();
  }
  // `{% set obj.name = value %}`; only namespaces allow it.
  virtual bool SetAttr(const std::string& name, Value value) { return false; }
  virtual bool callable() const { return false; }
  virtual absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) {
    return Value::Undefined();
  }
  // What Python's repr() shows.
  virtual std::string Repr() const { return "<" + TypeName() + " object>"; }
  // namespace() attributes, for repr and tojson; nullptr for others.
  virtual const Dict* attributes() const { return nullptr; }
  // Drops every value the object holds. A mutable object can be made to
  // hold itself ({% set ns.me = ns %}), a cycle of shared_ptrs that would
  // never be freed: the renderer that made it calls this when it is done.
  virtual void ReleaseValues() {}
};

// Python's `a == b` for the data types (1 == 1.0 == True; lists and dicts
// element-wise; objects by identity; Undefined equals only Undefined).
bool PyEquals(const Value& a, const Value& b);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_VALUE_H_
