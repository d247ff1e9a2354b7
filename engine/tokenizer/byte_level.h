// GPT-2's byte-level alphabet: each of the 256 byte values is shown as one
// printable Unicode character (printable ASCII and most of Latin-1 map to
// themselves; the rest, e.g. ' ' and control bytes, to U+0100 upwards, so
// ' ' -> 'Ġ'). Byte-level BPE vocabularies are written in this alphabet.
#ifndef LORAPLEX_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define LORAPLEX_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loraplex::engine {

// The UTF-8 text of the character that stands for `byte`.
std::string_view ByteLevelChar(uint8_t byte);

// The byte that `c` stands for, if `c` is in the alphabet.
std::optional<uint8_t> ByteLevelByte(char32_t c);

// Maps every byte of `bytes` to its alphabet character.
std::string ByteLevelEncode(std::string_view bytes);

// Appends the bytes that `token` (valid UTF-8) stands for. As Hugging Face's
// ByteLevel decoder does, a token with any character outside the alphabet
// (e.g. an added token) is appended unchanged.
void AppendByteLevelDecoded(std::string_view token, std::string* bytes);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_BYTE_LEVEL_H_
