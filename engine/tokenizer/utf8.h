// UTF-8 helpers shared by the tokenizers: validation, decoding, and the
// lossy conversion Hugging Face tokenizers uses when decoded bytes are not
// valid UTF-8 (Rust's String::from_utf8_lossy).
#ifndef LORAPLEX_ENGINE_TOKENIZER_UTF8_H_
#define LORAPLEX_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace loraplex::engine::utf8 {

// U+FFFD REPLACEMENT CHARACTER, UTF-8 encoded.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length in bytes of the well-formed character that starts `text` (1-4), or
// 0 when `text` is empty or does not start with a well-formed character.
size_t ValidCharLength(std::string_view text);

// Byte offset of the first ill-formed byte sequence, or text.size() when all
// of `text` is well-formed UTF-8.
size_t FirstInvalidOffset(std::string_view text);
inline bool IsValid(std::string_view text) {
  return FirstInvalidOffset(text) == text.size();
}

// Decodes the character at text[*pos] and advances *pos past it.
// Precondition: text is valid UTF-8 and *pos < text.size() is at a character
// boundary.
char32_t DecodeAt(std::string_view text, size_t* pos);

// Byte offset where the last character of `text` (valid UTF-8, non-empty)
// starts.
size_t LastCharStart(std::string_view text);

// Appends the UTF-8 encoding of `code_point` (must be a Unicode scalar).
void Append(char32_t code_point, std::string* out);

// Converts bytes to valid UTF-8 the way Rust's String::from_utf8_lossy does:
// every maximal ill-formed subsequence becomes one U+FFFD.
std::string FromBytesLossy(std::string_view bytes);

// True when `text` ends with U+FFFD: an incomplete character at the end of
// decoded bytes shows up as one.
bool EndsWithReplacementChar(std::string_view text);

}  // namespace loraplex::engine::utf8

#endif  // LORAPLEX_ENGINE_TOKENIZER_UTF8_H_
