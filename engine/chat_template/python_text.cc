#include "engine/chat_template/python_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace loraplex::chat {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The lower-case partner of an upper-case letter in the covered blocks, or
// 0.
char32_t LowerOf(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return 0;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 0x20;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
      (c >= 0x14A && c <= 0x177)) {
    return c % 2 == 0 ? c + 1 : 0;
  }
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) {
    return c % 2 == 1 ? c + 1 : 0;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF)) {
    return c % 2 == 0 ? c + 1 : 0;
  }
  return 0;
}

// The upper-case partner of a lower-case letter in the covered blocks, or 0.
char32_t UpperOf(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0xB5) return 0;
  if (c == 0xB5) return 0x39C;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if (c == 0x3C2) return 0x3A3;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 0x20;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  if (c > 0x100 && c < 0x4C0) {
    const char32_t partner = c - 1;
    if (LowerOf(partner) == c) return partner;
  }
  return 0;
}

bool IsLowerCased(char32_t c) {
  return UpperOf(c) != 0 || c == 0xDF || c == 0x138 || c == 0x149;
}
bool IsUpperCased(char32_t c) { return LowerOf(c) != 0 || c == 0x130; }

void AppendUpper(char32_t c, std::u32string& out) {
  if (c == 0xDF) {
    out += U"SS";
  } else {
    out += PyUpper(c);
  }
}

std::u32string Sigma(const std::u32string& in, size_t i) {
  // Python's final-sigma rule: 'Σ' lowers to 'ς' after a cased letter and
  // not before one.
  const bool after_cased = i > 0 && IsPyCased(in[i - 1]);
  const bool before_cased = i + 1 < in.size() && IsPyCased(in[i + 1]);
  return after_cased && !before_cased ? U"\u03C2" : U"\u03C3";
}

}  // namespace

std::u32string DecodeUtf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    int extra = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    if (i + static_cast<size_t>(extra) >= text.size()) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    bool ok = true;
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (!IsContinuation(next)) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (next & 0x3F);
    }
    if (!ok) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    out += cp;
    i += extra + 1;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string EncodeUtf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) AppendUtf8(c, out);
  return out;
}

size_t CodePointCount(std::string_view text) {
  size_t n = 0;
  for (char c : text)
    n += IsContinuation(static_cast<unsigned char>(c)) ? 0 : 1;
  return n;
}

bool IsPySpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 ||
         c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool IsPyPrintable(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0)) return false;
  if (IsPySpace(c)) return false;  // Zs, Zl, Zp other than ' '.
  switch (c) {
    case 0xAD:
    case 0x61C:
    case 0x6DD:
    case 0x70F:
    case 0x180E:
    case 0xFEFF:
    case 0x110BD:
    case 0xE0001:
      return false;
    default:
      break;
  }
  if ((c >= 0x600 && c <= 0x605) || (c >= 0x200B && c <= 0x200F) ||
      (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) ||
      (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xD800 && c <= 0xF8FF) ||
      (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE ||
      (c >= 0xE0020 && c <= 0xE007F) || c >= 0xF0000) {
    return false;
  }
  return true;
}

char32_t PyLower(char32_t c) {
  const char32_t lower = LowerOf(c);
  return lower != 0 ? lower : c;
}

char32_t PyUpper(char32_t c) {
  const char32_t upper = UpperOf(c);
  return upper != 0 ? upper : c;
}

bool IsPyCased(char32_t c) { return IsLowerCased(c) || IsUpperCased(c); }

bool IsPyAlpha(char32_t c) {
  return IsPyCased(c) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0x3040 && c <= 0x30FF) || (c >= 0xAC00 && c <= 0xD7A3);
}

bool IsPyDigit(char32_t c) { return c >= '0' && c <= '9'; }

std::string PyUpperString(std::string_view s) {
  std::u32string out;
  for (char32_t c : DecodeUtf8(s)) AppendUpper(c, out);
  return EncodeUtf8(out);
}

std::string PyLowerString(std::string_view s) {
  const std::u32string in = DecodeUtf8(s);
  std::u32string out;
  for (size_t i = 0; i < in.size(); ++i) {
    out += in[i] == 0x3A3 ? Sigma(in, i) : std::u32string(1, PyLower(in[i]));
  }
  return EncodeUtf8(out);
}

std::string PyCapitalize(std::string_view s) {
  const std::u32string in = DecodeUtf8(s);
  std::u32string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i == 0) {
      AppendUpper(in[i], out);
    } else {
      out += in[i] == 0x3A3 ? Sigma(in, i) : std::u32string(1, PyLower(in[i]));
    }
  }
  return EncodeUtf8(out);
}

std::string PyTitle(std::string_view s) {
  const std::u32string in = DecodeUtf8(s);
  std::u32string out;
  bool previous_cased = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char32_t c = in[i];
    if (previous_cased) {
      out += c == 0x3A3 ? Sigma(in, i) : std::u32string(1, PyLower(c));
    } else if (c == 0xDF) {
      out += U"Ss";
    } else {
      out += PyUpper(c);
    }
    previous_cased = IsPyCased(c);
  }
  return EncodeUtf8(out);
}

bool PyIsLower(std::string_view s) {
  bool cased = false;
  for (char32_t c : DecodeUtf8(s)) {
    if (IsUpperCased(c)) return false;
    cased = cased || IsLowerCased(c);
  }
  return cased;
}

bool PyIsUpper(std::string_view s) {
  bool cased = false;
  for (char32_t c : DecodeUtf8(s)) {
    if (IsLowerCased(c)) return false;
    cased = cased || IsUpperCased(c);
  }
  return cased;
}

std::string PyStrip(std::string_view s, const std::optional<std::string>& chars,
                    StripSide side) {
  const std::u32string in = DecodeUtf8(s);
  const std::u32string set = chars ? DecodeUtf8(*chars) : std::u32string();
  const auto strip = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : IsPySpace(c);
  };
  size_t begin = 0;
  size_t end = in.size();
  if (side != StripSide::kRight) {
    while (begin < end && strip(in[begin])) ++begin;
  }
  if (side != StripSide::kLeft) {
    while (end > begin && strip(in[end - 1])) --end;
  }
  return EncodeUtf8(std::u32string_view(in).substr(begin, end - begin));
}

std::vector<std::string> PySplit(std::string_view s,
                                 const std::optional<std::string>& sep,
                                 int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (!from_right) {
      size_t start = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        const size_t at = s.find(*sep, start);
        if (at == std::string_view::npos) break;
        parts.emplace_back(s.substr(start, at - start));
        start = at + sep->size();
      }
      parts.emplace_back(s.substr(start));
      return parts;
    }
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      parts.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    parts.emplace_back(s.substr(0, end));
    return {parts.rbegin(), parts.rend()};
  }
  std::u32string in = DecodeUtf8(s);
  if (from_right) std::reverse(in.begin(), in.end());
  size_t i = 0;
  while (true) {
    while (i < in.size() && IsPySpace(in[i])) ++i;
    if (i >= in.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
      std::u32string rest = in.substr(i);
      if (from_right) std::reverse(rest.begin(), rest.end());
      parts.push_back(EncodeUtf8(rest));
      break;
    }
    size_t j = i;
    while (j < in.size() && !IsPySpace(in[j])) ++j;
    std::u32string word = in.substr(i, j - i);
    if (from_right) std::reverse(word.begin(), word.end());
    parts.push_back(EncodeUtf8(word));
    i = j;
  }
  if (from_right) std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> PySplitLines(std::string_view s) {
  const std::u32string in = DecodeUtf8(s);
  std::vector<std::string> lines;
  std::u32string line;
  for (size_t i = 0; i < in.size(); ++i) {
    const char32_t c = in[i];
    const bool breaks = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C ||
                        c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
                        c == 0x2028 || c == 0x2029;
    if (!breaks) {
      line += c;
      continue;
    }
    if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
    lines.push_back(EncodeUtf8(line));
    line.clear();
  }
  if (!line.empty()) lines.push_back(EncodeUtf8(line));
  return lines;
}

std::string PyReplace(std::string_view s, std::string_view old_text,
                      std::string_view new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new` between code points and at both ends.
    const std::u32string in = DecodeUtf8(s);
    int64_t done = 0;
    for (size_t i = 0; i <= in.size(); ++i) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      if (i < in.size()) AppendUtf8(in[i], out);
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old_text, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start));
    out.append(new_text);
    start = at + old_text.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t PyFind(std::string_view s, std::string_view sub, bool from_right) {
  const size_t at = from_right ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) return -1;
  return static_cast<int64_t>(CodePointCount(s.substr(0, at)));
}

int64_t PyCount(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(CodePointCount(s)) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string_view::npos;
       at = s.find(sub, at + sub.size())) {
    ++n;
  }
  return n;
}

std::string PyStringRepr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  char buf[16];
  for (char32_t c : DecodeUtf8(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (IsPyPrintable(c)) {
      AppendUtf8(c, out);
    } else {
      if (c <= 0xFF) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      } else if (c <= 0xFFFF) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      }
      out += buf;
    }
  }
  out += quote;
  return out;
}

std::string PyFloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout (repr style 'r'):
  // positional when -4 <= exponent < 16, else d.ddde+XX.
  char buf[64];
  const auto result =
      std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, result.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e_pos = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e_pos + 1);
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    return out + exp_buf;
  }
  if (exponent < 0) {
    return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') +
           digits;
  }
  const auto int_digits = static_cast<size_t>(exponent + 1);
  if (digits.size() <= int_digits) {
    return sign + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

}  // namespace loraplex::chat
