#include "engine/tokenizer/utf8.h"

#include <cstdint>

namespace loraplex::engine::utf8 {
namespace {

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// Number of leading bytes of `text` that form a prefix of a well-formed
// character (Unicode table 3-7), and the full length that character needs.
// `needed` is 0 when the first byte cannot start any character.
struct Prefix {
  size_t valid = 0;
  size_t needed = 0;
};

Prefix WellFormedPrefix(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(0);
  if (lead < 0x80) return {1, 1};
  size_t needed = 0;
  uint8_t second_min = 0x80;
  uint8_t second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    needed = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    needed = 3;
    if (lead == 0xE0) second_min = 0xA0;  // No overlong forms.
    if (lead == 0xED) second_max = 0x9F;  // No surrogates.
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    needed = 4;
    if (lead == 0xF0) second_min = 0x90;  // No overlong forms.
    if (lead == 0xF4) second_max = 0x8F;  // Nothing above U+10FFFF.
  } else {
    return {0, 0};
  }
  size_t valid = 1;
  if (valid < text.size() && byte(1) >= second_min && byte(1) <= second_max) {
    valid = 2;
    while (valid < needed && valid < text.size() &&
           IsContinuation(byte(valid))) {
      ++valid;
    }
  }
  return {valid, needed};
}

}  // namespace

size_t ValidCharLength(std::string_view text) {
  if (text.empty()) return 0;
  const Prefix prefix = WellFormedPrefix(text);
  return prefix.needed != 0 && prefix.valid == prefix.needed ? prefix.valid : 0;
}

size_t FirstInvalidOffset(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = ValidCharLength(text.substr(pos));
    if (length == 0) return pos;
    pos += length;
  }
  return text.size();
}

char32_t DecodeAt(std::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) {
    return static_cast<char32_t>(static_cast<uint8_t>(text[i]));
  };
  const size_t i = *pos;
  const char32_t lead = byte(i);
  if (lead < 0x80) {
    *pos = i + 1;
    return lead;
  }
  if (lead < 0xE0) {
    *pos = i + 2;
    return ((lead & 0x1F) << 6) | (byte(i + 1) & 0x3F);
  }
  if (lead < 0xF0) {
    *pos = i + 3;
    return ((lead & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) |
           (byte(i + 2) & 0x3F);
  }
  *pos = i + 4;
  return ((lead & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) |
         ((byte(i + 2) & 0x3F) << 6) | (byte(i + 3) & 0x3F);
}

size_t LastCharStart(std::string_view text) {
  size_t pos = text.size() - 1;
  while (pos > 0 && IsContinuation(static_cast<uint8_t>(text[pos]))) --pos;
  return pos;
}

void Append(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string FromBytesLossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Prefix prefix = WellFormedPrefix(bytes.substr(pos));
    if (prefix.needed != 0 && prefix.valid == prefix.needed) {
      out.append(bytes.substr(pos, prefix.valid));
      pos += prefix.valid;
    } else {
      // The maximal ill-formed subpart: the well-formed prefix, or one byte.
      out.append(kReplacementChar);
      pos += prefix.valid == 0 ? 1 : prefix.valid;
    }
  }
  return out;
}

bool EndsWithReplacementChar(std::string_view text) {
  return text.size() >= kReplacementChar.size() &&
         text.substr(text.size() - kReplacementChar.size()) == kReplacementChar;
}

}  // namespace loraplex::engine::utf8
