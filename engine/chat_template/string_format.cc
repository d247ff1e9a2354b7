#include "engine/chat_template/string_format.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/value_format.h"

namespace loraplex::chat {

std::string EscapeHtml(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> PercentFormat(const std::string& format,
                                          const Value& args, int line) {
  ValueList values;
  if (args.kind() == Value::Kind::kTuple) {
    values = args.list();
  } else {
    values.push_back(args);
  }
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (i + 1 >= format.size()) {
      return RenderError(line, "incomplete format");
    }
    const char conversion = format[++i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (conversion != 's' && conversion != 'r' && conversion != 'd' &&
        conversion != 'i') {
      return RenderError(line,
                         absl::StrCat("format '%", std::string(1, conversion),
                                      "' is not supported (only %s %r "
                                      "%d %i %%)"));
    }
    if (next >= values.size()) {
      return RenderError(line, "not enough arguments for format string");
    }
    const Value& v = values[next++];
    if (conversion == 's') {
      out += PyStr(v);
    } else if (conversion == 'r') {
      out += PyRepr(v);
    } else if (v.is_int() || v.is_bool()) {
      out += std::to_string(v.int_value());
    } else if (v.is_float() && std::isfinite(v.float_value())) {
      out += std::to_string(static_cast<int64_t>(std::trunc(v.float_value())));
    } else {
      return RenderError(line, absl::StrCat("%", std::string(1, conversion),
                                            " format: a real number is "
                                            "required, not ",
                                            v.TypeName()));
    }
  }
  if (next < values.size()) {
    return RenderError(line,
                       "not all arguments converted during string formatting");
  }
  return out;
}

absl::StatusOr<std::string> BraceFormat(const std::string& format,
                                        const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      return RenderError(args.line, "single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) {
      return RenderError(args.line, "single '{' encountered in format string");
    }
    const std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    if (field.find_first_of(":!.[") != std::string::npos) {
      return RenderError(
          args.line, absl::StrCat("format field '{", field,
                                  "}' is not supported (only {} {0} {name})"));
    }
    const Value* v = nullptr;
    size_t index = 0;
    if (field.empty()) {
      index = auto_index++;
    } else if (!absl::SimpleAtoi(field, &index)) {
      for (const auto& [key, value] : args.keyword) {
        if (key == field) v = &value;
      }
      if (v == nullptr) {
        return RenderError(args.line, absl::StrCat("KeyError: '", field, "'"));
      }
    }
    if (v == nullptr) {
      if (index >= args.positional.size()) {
        return RenderError(
            args.line, absl::StrCat("Replacement index ", index,
                                    " out of range for positional args tuple"));
      }
      v = &args.positional[index];
    }
    out += PyStr(*v);
  }
  return out;
}

}  // namespace loraplex::chat
