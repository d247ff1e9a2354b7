#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/utf8.h"

namespace loraplex::engine {
namespace {

// Characters of the alphabet are all below U+0144.
constexpr char32_t kAlphabetLimit = 0x144;

struct Alphabet {
  std::array<std::string, 256> char_of_byte;
  std::array<int16_t, kAlphabetLimit> byte_of_char;  // -1: not in alphabet.
};

// GPT-2's bytes_to_unicode(): bytes that are printable (and not a space)
// keep their own code point; the others get U+0100, U+0101, ... in order.
const Alphabet& GetAlphabet() {
  static const Alphabet* const alphabet = [] {
    auto* a = new Alphabet();
    a->byte_of_char.fill(-1);
    const auto keeps_code_point = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
             (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_shifted = 0x100;
    for (int b = 0; b < 256; ++b) {
      const char32_t c =
          keeps_code_point(b) ? static_cast<char32_t>(b) : next_shifted++;
      utf8::Append(c, &a->char_of_byte[b]);
      a->byte_of_char[c] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return *alphabet;
}

}  // namespace

std::string_view ByteLevelChar(uint8_t byte) {
  return GetAlphabet().char_of_byte[byte];
}

std::optional<uint8_t> ByteLevelByte(char32_t c) {
  if (c >= kAlphabetLimit) return std::nullopt;
  const int16_t byte = GetAlphabet().byte_of_char[c];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

std::string ByteLevelEncode(std::string_view bytes) {
  const Alphabet& alphabet = GetAlphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) out += alphabet.char_of_byte[static_cast<uint8_t>(b)];
  return out;
}

void AppendByteLevelDecoded(std::string_view token, std::string* bytes) {
  const size_t original_size = bytes->size();
  size_t pos = 0;
  while (pos < token.size()) {
    const std::optional<uint8_t> byte =
        ByteLevelByte(utf8::DecodeAt(token, &pos));
    if (!byte) {
      bytes->resize(original_size);
      bytes->append(token);
      return;
    }
    bytes->push_back(static_cast<char>(*byte));
  }
}

}  // namespace loraplex::engine
