#include "engine/chat_template/lexer.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/python_text.h"

namespace loraplex::chat {
namespace {

absl::Status LexError(int line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", message));
}

// Byte length of Python whitespace (\s) starting at `pos`.
size_t SpaceRun(absl::string_view s, size_t pos) {
  size_t end = pos;
  while (end < s.size()) {
    const auto c = static_cast<unsigned char>(s[end]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    len = std::min(len, s.size() - end);
    const std::u32string cp = DecodeUtf8(std::string_view(s.data() + end, len));
    if (cp.size() != 1 || !IsPySpace(cp[0])) break;
    end += len;
  }
  return end - pos;
}

bool AllPySpace(absl::string_view s) {
  return !s.empty() && SpaceRun(s, 0) == s.size();
}

int CountNewlines(absl::string_view s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// Python's "unicode-escape" decoding of a string literal's body.
absl::StatusOr<std::string> Unescape(absl::string_view body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char c = body[++i];
    const auto hex = [&](size_t digits) -> absl::StatusOr<char32_t> {
      if (i + digits >= body.size()) {
        return LexError(line, "truncated escape in a string literal");
      }
      char32_t value = 0;
      for (size_t k = 1; k <= digits; ++k) {
        const char d = body[i + k];
        if (!std::isxdigit(static_cast<unsigned char>(d))) {
          return LexError(line, "truncated escape in a string literal");
        }
        value = value * 16 +
                (std::isdigit(static_cast<unsigned char>(d))
                     ? d - '0'
                     : std::tolower(static_cast<unsigned char>(d)) - 'a' + 10);
      }
      i += digits;
      return value;
    };
    switch (c) {
      case '\n':
        break;  // A line continuation.
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        absl::StatusOr<char32_t> cp = hex(digits);
        if (!cp.ok()) return cp.status();
        if (*cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
          return LexError(line, "invalid code point in a string literal");
        }
        AppendUtf8(*cp, out);
        break;
      }
      case 'N':
        return LexError(line, "\\N{...} escapes are not supported");
      default:
        if (c >= '0' && c <= '7') {
          char32_t value = c - '0';
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' &&
                          body[i + 1] <= '7';
               ++k) {
            value = value * 8 + (body[++i] - '0');
          }
          AppendUtf8(value, out);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : s_(std::move(source)) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < s_.size()) {
      absl::Status status = LexRoot();
      if (!status.ok()) return status;
    }
    tokens_.push_back(Token{TokenType::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  enum class TagKind { kVariable, kBlock, kComment, kRaw };

  struct TagStart {
    size_t at = std::string::npos;  // Position of '{'.
    TagKind kind = TagKind::kBlock;
    char sign = 0;       // '-', '+' or 0.
    size_t body = 0;     // Position after the opener (and sign).
    size_t raw_end = 0;  // For kRaw: position after the whole raw tag.
  };

  // `{%-? raw -?%}` at `at`, as Jinja's root_raw_re.
  bool MatchRawBegin(size_t at, TagStart& tag) const {
    size_t p = at + 2;
    char sign = 0;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
    p += SpaceRun(s_, p);
    if (s_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    p += SpaceRun(s_, p);
    if (s_.compare(p, 3, "-%}") == 0) {
      p += 3;
      p += SpaceRun(s_, p);
    } else if (s_.compare(p, 2, "%}") == 0) {
      p += 2;
    } else {
      return false;
    }
    tag = TagStart{at, TagKind::kRaw, sign, 0, p};
    return true;
  }

  TagStart FindTag(size_t from) const {
    for (size_t at = s_.find('{', from); at != std::string::npos;
         at = s_.find('{', at + 1)) {
      if (at + 1 >= s_.size()) break;
      const char next = s_[at + 1];
      TagStart tag;
      if (next == '%' && MatchRawBegin(at, tag)) return tag;
      if (next != '%' && next != '{' && next != '#') continue;
      tag.at = at;
      tag.kind = next == '%'   ? TagKind::kBlock
                 : next == '{' ? TagKind::kVariable
                               : TagKind::kComment;
      tag.body = at + 2;
      if (tag.body < s_.size() &&
          (s_[tag.body] == '-' || s_[tag.body] == '+')) {
        tag.sign = s_[tag.body++];
      }
      return tag;
    }
    return TagStart{};
  }

  // Emits `text` as data after the whitespace control of the tag that
  // follows it (Jinja's OptionalLStrip).
  void EmitData(std::string text, char sign, bool lstrip_applies) {
    const int start_line = line_;
    line_ += CountNewlines(text);
    if (sign == '-') {
      text = PyStrip(text, std::nullopt, StripSide::kRight);
    } else if (sign != '+' && lstrip_applies) {
      const size_t l_pos = text.rfind('\n') + 1;  // npos + 1 == 0.
      if ((l_pos > 0 || line_starting_) &&
          AllPySpace(absl::string_view(text).substr(l_pos))) {
        text.resize(l_pos);
      }
    }
    if (!text.empty()) {
      tokens_.push_back(Token{TokenType::kData, std::move(text), start_line});
    }
  }

  absl::Status LexRoot() {
    const TagStart tag = FindTag(pos_);
    if (tag.at == std::string::npos) {
      EmitData(s_.substr(pos_), 0, false);
      pos_ = s_.size();
      return absl::OkStatus();
    }
    EmitData(s_.substr(pos_, tag.at - pos_), tag.sign,
             tag.kind != TagKind::kVariable);
    switch (tag.kind) {
      case TagKind::kComment:
        return LexComment(tag.body);
      case TagKind::kRaw:
        line_ += CountNewlines(
            absl::string_view(s_).substr(tag.at, tag.raw_end - tag.at));
        return LexRaw(tag.raw_end);
      default:
        return LexTag(tag);
    }
  }

  // After a block end, comment end or endraw: `+%}`, `-%}\s*` or `%}\n?`.
  size_t BlockEndLength(size_t p, const char* close) const {
    if ((s_[p] == '+' || s_[p] == '-') && s_.compare(p + 1, 2, close) == 0) {
      if (s_[p] == '+') return 3;
      return 3 + SpaceRun(s_, p + 3);
    }
    if (s_.compare(p, 2, close) == 0) {
      return p + 2 < s_.size() && s_[p + 2] == '\n' ? 3 : 2;
    }
    return 0;
  }

  void Advance(size_t new_pos) {
    line_starting_ = new_pos > 0 && s_[new_pos - 1] == '\n';
    line_ += CountNewlines(absl::string_view(s_).substr(pos_, new_pos - pos_));
    pos_ = new_pos;
  }

  absl::Status LexComment(size_t body) {
    const int start_line = line_;
    for (size_t p = body; p + 1 < s_.size(); ++p) {
      const size_t len = BlockEndLength(p, "#}");
      if (len > 0) {
        pos_ = body;
        Advance(p + len);
        return absl::OkStatus();
      }
    }
    return LexError(start_line, "missing end of comment tag");
  }

  absl::Status LexRaw(size_t body) {
    for (size_t p = s_.find("{%", body); p != std::string::npos;
         p = s_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) sign = s_[q++];
      q += SpaceRun(s_, q);
      if (s_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      q += SpaceRun(s_, q);
      if (q >= s_.size()) break;
      const size_t len = BlockEndLength(q, "%}");
      if (len == 0) continue;
      line_starting_ = body > 0 && s_[body - 1] == '\n';
      EmitData(s_.substr(body, p - body), sign, true);
      pos_ = p;
      Advance(q + len);
      return absl::OkStatus();
    }
    return LexError(line_, "missing end of raw directive");
  }

  absl::Status LexTag(const TagStart& tag) {
    const bool block = tag.kind == TagKind::kBlock;
    tokens_.push_back(Token{
        block ? TokenType::kBlockBegin : TokenType::kVariableBegin, "", line_});
    pos_ = tag.body;
    std::vector<char> brackets;
    while (true) {
      if (pos_ >= s_.size()) {
        return LexError(line_, block
                                   ? "unexpected end of template: missing %}"
                                   : "unexpected end of template: missing }}");
      }
      if (brackets.empty()) {
        size_t len = 0;
        if (block) {
          len = BlockEndLength(pos_, "%}");
        } else if (s_.compare(pos_, 3, "-}}") == 0) {
          len = 3 + SpaceRun(s_, pos_ + 3);
        } else if (s_.compare(pos_, 2, "}}") == 0) {
          len = 2;
        }
        if (len > 0) {
          tokens_.push_back(
              Token{block ? TokenType::kBlockEnd : TokenType::kVariableEnd, "",
                    line_});
          Advance(pos_ + len);
          return absl::OkStatus();
        }
      }
      absl::Status status = LexExpressionToken(brackets);
      if (!status.ok()) return status;
    }
  }

  // One whitespace run, number, name, string or operator inside a tag.
  absl::Status LexExpressionToken(std::vector<char>& brackets) {
    const size_t space = SpaceRun(s_, pos_);
    if (space > 0) {
      Advance(pos_ + space);
      return absl::OkStatus();
    }
    const char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c))) return LexNumber();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[end])) ||
              s_[end] == '_')) {
        ++end;
      }
      tokens_.push_back(
          Token{TokenType::kName, s_.substr(pos_, end - pos_), line_});
      Advance(end);
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"') return LexString(c);
    static const char* const kOperators[] = {
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
        "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
    for (const char* op : kOperators) {
      const absl::string_view text(op);
      if (s_.compare(pos_, text.size(), text.data(), text.size()) != 0)
        continue;
      if (text == "(" || text == "[" || text == "{") {
        brackets.push_back(text == "(" ? ')' : text == "[" ? ']' : '}');
      } else if (text == ")" || text == "]" || text == "}") {
        if (brackets.empty()) {
          return LexError(line_, absl::StrCat("unexpected '", text, "'"));
        }
        if (brackets.back() != text[0]) {
          return LexError(line_,
                          absl::StrCat("unexpected '", text, "', expected '",
                                       std::string(1, brackets.back()), "'"));
        }
        brackets.pop_back();
      }
      tokens_.push_back(Token{TokenType::kOperator, std::string(text), line_});
      Advance(pos_ + text.size());
      return absl::OkStatus();
    }
    return LexError(
        line_, absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  // Jinja's integer_re and float_re (float first), underscores allowed.
  absl::Status LexNumber() {
    auto digits = [this](size_t p, auto is_digit) {
      // (_?d)+ after the first digit; returns the end.
      while (p < s_.size()) {
        if (is_digit(s_[p])) {
          ++p;
        } else if (s_[p] == '_' && p + 1 < s_.size() && is_digit(s_[p + 1])) {
          p += 2;
        } else {
          break;
        }
      }
      return p;
    };
    const auto dec = [](char ch) { return ch >= '0' && ch <= '9'; };
    size_t end = digits(pos_, dec);
    bool is_float = false;
    if (end + 1 < s_.size() && s_[end] == '.' && dec(s_[end + 1])) {
      end = digits(end + 1, dec);
      is_float = true;
    }
    if (end < s_.size() && (s_[end] == 'e' || s_[end] == 'E')) {
      size_t p = end + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && dec(s_[p])) {
        end = digits(p, dec);
        is_float = true;
      }
    }
    std::string text = s_.substr(pos_, end - pos_);
    if (!is_float) {
      const char prefix = text == "0" && end < s_.size()
                              ? static_cast<char>(std::tolower(s_[end]))
                              : 0;
      if (prefix == 'x' || prefix == 'o' || prefix == 'b') {
        return LexError(line_,
                        "hex, octal and binary literals are not supported");
      }
      if (text.size() > 1 && text[0] == '0' &&
          text.find_first_not_of("0_") != std::string::npos) {
        return LexError(line_, "integer literal with a leading zero");
      }
    }
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    tokens_.push_back(Token{is_float ? TokenType::kFloat : TokenType::kInteger,
                            std::move(text), line_});
    Advance(end);
    return absl::OkStatus();
  }

  absl::Status LexString(char quote) {
    size_t p = pos_ + 1;
    while (p < s_.size() && s_[p] != quote) {
      p += s_[p] == '\\' ? 2 : 1;
    }
    if (p >= s_.size()) return LexError(line_, "unterminated string literal");
    absl::StatusOr<std::string> value =
        Unescape(absl::string_view(s_).substr(pos_ + 1, p - pos_ - 1), line_);
    if (!value.ok()) return value.status();
    tokens_.push_back(Token{TokenType::kString, *std::move(value), line_});
    Advance(p + 1);
    return absl::OkStatus();
  }

  std::string s_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source) {
  std::string text;
  text.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] != '\r') {
      text += source[i];
    } else {
      text += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    }
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return Lexer(std::move(text)).Run();
}

}  // namespace loraplex::chat
