#include "engine/chat_template/value.h"

#include <cmath>
#include <cstring>

namespace loraplex::chat {
namespace {

// Two values that are equal in Python get one key: numbers by value (an
// integral float is its int), strings by bytes, tuples by their items.
// Unhashable values (lists, dicts) never become keys: the evaluator refuses
// them first.
std::string HashKey(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return "i" + std::to_string(v.int_value());
    case Value::Kind::kFloat: {
      const double d = v.float_value();
      if (std::floor(d) == d && std::abs(d) < 9.2e18) {
        return "i" + std::to_string(static_cast<int64_t>(d));
      }
      char buf[sizeof(double)];
      std::memcpy(buf, &d, sizeof(d));
      return "f" + std::string(buf, sizeof(buf));
    }
    case Value::Kind::kString:
      return "s" + v.str();
    case Value::Kind::kNone:
      return "n";
    case Value::Kind::kTuple: {
      std::string key = "t";
      for (const Value& item : v.list()) {
        const std::string part = HashKey(item);
        key += std::to_string(part.size()) + ":" + part;
      }
      return key;
    }
    case Value::Kind::kObject:
      return "o" +
             std::to_string(reinterpret_cast<uintptr_t>(v.object().get()));
    default:
      return "u";
  }
}

}  // namespace

void Dict::Set(const Value& key, Value value) {
  const std::string hash = HashKey(key);
  auto it = index_.find(hash);
  if (it != index_.end()) {
    items_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(hash, items_.size());
  items_.emplace_back(key, std::move(value));
}

const Value* Dict::Find(const Value& key) const {
  auto it = index_.find(HashKey(key));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

Value Value::Undefined(std::string hint) {
  Value v;
  v.s_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::Unsafe(std::string message) {
  Value v = Undefined(std::move(message));
  v.markup_ = true;
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.d_ = d;
  return v;
}

Value Value::String(std::string s, bool markup) {
  Value v;
  v.kind_ = Kind::kString;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  v.markup_ = markup;
  return v;
}

Value Value::List(ValueList items) {
  Value v;
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<const ValueList>(std::move(items));
  return v;
}

Value Value::Tuple(ValueList items) {
  Value v = List(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::MakeDict(Dict dict) {
  Value v;
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<const Dict>(std::move(dict));
  return v;
}

Value Value::MakeObject(std::shared_ptr<Object> object) {
  Value v;
  v.kind_ = Kind::kObject;
  v.object_ = std::move(object);
  return v;
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return d_ != 0;
    case Kind::kString:
      return !s_->empty();
    case Kind::kList:
    case Kind::kTuple:
      return !list_->empty();
    case Kind::kDict:
      return dict_->size() != 0;
    case Kind::kObject:
      return true;
  }
  return false;
}

std::string Value::TypeName() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return markup_ ? "Markup" : "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kObject:
      return object_->TypeName();
  }
  return "object";
}

bool PyEquals(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() == b.AsDouble();
    return a.int_value() == b.int_value();
  }
  if (a.kind() != b.kind()) {
    // A list never equals a tuple in Python.
    return false;
  }
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.str() == b.str();
    case Kind::kList:
    case Kind::kTuple: {
      if (&a.list() == &b.list()) return true;
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i) {
        if (!PyEquals(a.list()[i], b.list()[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (&a.dict() == &b.dict()) return true;
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [key, value] : a.dict().items()) {
        const Value* other = b.dict().Find(key);
        if (other == nullptr || !PyEquals(value, *other)) return false;
      }
      return true;
    }
    case Kind::kObject:
      return a.object() == b.object();
    default:
      return false;
  }
}

}  // namespace loraplex::chat
