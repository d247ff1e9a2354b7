#include "engine/chat_template/value_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/python_text.h"

namespace loraplex::chat {
namespace {

void AppendRepr(const Value& v, int depth, std::string& out) {
  using Kind = Value::Kind;
  if (depth > kMaxValueDepth) {
    out += "...";
    return;
  }
  switch (v.kind()) {
    case Kind::kUndefined:
      out += "Undefined";
      return;
    case Kind::kString:
      if (v.markup()) {
        out += "Markup(" + PyStringRepr(v.str()) + ")";
      } else {
        out += PyStringRepr(v.str());
      }
      return;
    case Kind::kList:
    case Kind::kTuple: {
      const bool tuple = v.kind() == Kind::kTuple;
      out += tuple ? '(' : '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i > 0) out += ", ";
        AppendRepr(v.list()[i], depth + 1, out);
      }
      if (tuple && v.list().size() == 1) out += ',';
      out += tuple ? ')' : ']';
      return;
    }
    case Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : v.dict().items()) {
        if (!first) out += ", ";
        first = false;
        AppendRepr(key, depth + 1, out);
        out += ": ";
        AppendRepr(value, depth + 1, out);
      }
      out += '}';
      return;
    }
    case Kind::kObject:
      if (const Dict* attrs = v.object()->attributes()) {
        out += "<Namespace ";
        AppendRepr(Value::MakeDict(*attrs), depth + 1, out);
        out += ">";
      } else {
        out += v.object()->Repr();
      }
      return;
    default:
      out += PyStr(v);
  }
}

void AppendJsonString(const std::string& s, bool ensure_ascii,
                      std::string& out) {
  out += '"';
  char buf[16];
  for (char32_t c : DecodeUtf8(s)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x",
                          static_cast<unsigned>(0xD800 | (v >> 10)),
                          static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
          } else {
            std::snprintf(buf, sizeof(buf), "\\u%04x",
                          static_cast<unsigned>(c));
          }
          out += buf;
        } else {
          AppendUtf8(c, out);
        }
    }
  }
  out += '"';
}

std::string JsonFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return PyFloatRepr(d);
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpsOptions& options) : options_(options) {
    if (options.separators) {
      item_sep_ = options.separators->first;
      key_sep_ = options.separators->second;
    } else {
      item_sep_ = options.indent ? "," : ", ";
      key_sep_ = ": ";
    }
  }

  absl::Status Write(const Value& v, int depth, std::string& out) {
    using Kind = Value::Kind;
    if (depth > kMaxValueDepth) {
      return absl::InvalidArgumentError("tojson: value nested too deeply");
    }
    switch (v.kind()) {
      case Kind::kNone:
        out += "null";
        return absl::OkStatus();
      case Kind::kBool:
        out += v.bool_value() ? "true" : "false";
        return absl::OkStatus();
      case Kind::kInt:
        out += std::to_string(v.int_value());
        return absl::OkStatus();
      case Kind::kFloat:
        out += JsonFloat(v.float_value());
        return absl::OkStatus();
      case Kind::kString:
        AppendJsonString(v.str(), options_.ensure_ascii, out);
        return absl::OkStatus();
      case Kind::kList:
      case Kind::kTuple:
        return WriteList(v.list(), depth, out);
      case Kind::kDict:
        return WriteDict(v.dict(), depth, out);
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "Object of type ", v.TypeName(), " is not JSON serializable"));
    }
  }

 private:
  void NewLine(int depth, std::string& out) const {
    if (!options_.indent) return;
    out += '\n';
    for (int i = 0; i < depth; ++i) out += *options_.indent;
  }

  absl::Status WriteList(const ValueList& items, int depth, std::string& out) {
    if (items.empty()) {
      out += "[]";
      return absl::OkStatus();
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += item_sep_;
      NewLine(depth + 1, out);
      absl::Status status = Write(items[i], depth + 1, out);
      if (!status.ok()) return status;
    }
    NewLine(depth, out);
    out += ']';
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> KeyText(const Value& key) const {
    switch (key.kind()) {
      case Value::Kind::kString:
        return key.str();
      case Value::Kind::kNone:
        return std::string("null");
      case Value::Kind::kBool:
        return std::string(key.bool_value() ? "true" : "false");
      case Value::Kind::kInt:
        return std::to_string(key.int_value());
      case Value::Kind::kFloat:
        return JsonFloat(key.float_value());
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("keys must be str, int, float, bool or None, not ",
                         key.TypeName()));
    }
  }

  absl::Status WriteDict(const Dict& dict, int depth, std::string& out) {
    if (dict.size() == 0) {
      out += "{}";
      return absl::OkStatus();
    }
    std::vector<const std::pair<Value, Value>*> items;
    for (const auto& item : dict.items()) items.push_back(&item);
    if (options_.sort_keys) {
      const Value::Kind kind = items[0]->first.kind();
      for (const auto* item : items) {
        const bool both_numbers =
            item->first.is_number() && items[0]->first.is_number();
        if (item->first.kind() != kind && !both_numbers) {
          return absl::InvalidArgumentError(
              absl::StrCat("'<' not supported between instances of '",
                           item->first.TypeName(), "' and '",
                           items[0]->first.TypeName(), "'"));
        }
      }
      std::stable_sort(items.begin(), items.end(),
                       [](const auto* a, const auto* b) {
                         if (a->first.is_string()) {
                           return a->first.str() < b->first.str();
                         }
                         return a->first.AsDouble() < b->first.AsDouble();
                       });
    }
    out += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += item_sep_;
      NewLine(depth + 1, out);
      absl::StatusOr<std::string> key = KeyText(items[i]->first);
      if (!key.ok()) return key.status();
      AppendJsonString(*key, options_.ensure_ascii, out);
      out += key_sep_;
      absl::Status status = Write(items[i]->second, depth + 1, out);
      if (!status.ok()) return status;
    }
    NewLine(depth, out);
    out += '}';
    return absl::OkStatus();
  }

  const JsonDumpsOptions& options_;
  std::string item_sep_;
  std::string key_sep_;
};

absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxValueDepth) {
    return absl::InvalidArgumentError("input nested too deeply");
  }
  using Type = nlohmann::ordered_json::value_t;
  switch (json.type()) {
    case Type::null:
      return Value::None();
    case Type::boolean:
      return Value::Bool(json.get<bool>());
    case Type::number_integer:
      return Value::Int(json.get<int64_t>());
    case Type::number_unsigned: {
      const auto u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError("integer out of range");
      }
      return Value::Int(static_cast<int64_t>(u));
    }
    case Type::number_float:
      return Value::Float(json.get<double>());
    case Type::string:
      return Value::String(json.get<std::string>());
    case Type::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) {
        absl::StatusOr<Value> v = FromJson(item, depth + 1);
        if (!v.ok()) return v.status();
        items.push_back(*std::move(v));
      }
      return Value::List(std::move(items));
    }
    case Type::object: {
      Dict dict;
      for (const auto& [key, item] : json.items()) {
        absl::StatusOr<Value> v = FromJson(item, depth + 1);
        if (!v.ok()) return v.status();
        dict.Set(Value::String(key), *std::move(v));
      }
      return Value::MakeDict(std::move(dict));
    }
    default:
      return absl::InvalidArgumentError("unsupported JSON value");
  }
}

}  // namespace

std::string PyStr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.bool_value() ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(v.int_value());
    case Value::Kind::kFloat:
      return PyFloatRepr(v.float_value());
    case Value::Kind::kString:
      return v.str();
    default: {
      std::string out;
      AppendRepr(v, 0, out);
      return out;
    }
  }
}

std::string PyRepr(const Value& v) {
  std::string out;
  AppendRepr(v, 0, out);
  return out;
}

absl::StatusOr<std::string> JsonDumps(const Value& v,
                                      const JsonDumpsOptions& options) {
  std::string out;
  JsonWriter writer(options);
  absl::Status status = writer.Write(v, 0, out);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<Value> ValueFromJson(const nlohmann::ordered_json& json) {
  return FromJson(json, 0);
}

}  // namespace loraplex::chat
