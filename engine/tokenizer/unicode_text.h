// Unicode character properties and normalization forms the tokenizers need,
// without ICU: White_Space, "word" characters, NFC and NFD.
#ifndef LORAPLEX_ENGINE_TOKENIZER_UNICODE_TEXT_H_
#define LORAPLEX_ENGINE_TOKENIZER_UNICODE_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace loraplex::engine::unicode {

// The Unicode White_Space property (what Rust's char::is_whitespace and the
// regex class \s of Hugging Face tokenizers accept).
bool IsWhiteSpace(char32_t c);

// Word characters as Rust's regex `\w` sees them (letters, marks, decimal
// digits, connector punctuation). Thread-safe.
bool IsWordChar(char32_t c);

// Byte length of the run of White_Space characters at the start of `text`
// (valid UTF-8), and where the run at its end starts.
size_t LeadingWhiteSpaceLength(std::string_view text);
size_t TrailingWhiteSpaceStart(std::string_view text);

// Unicode Normalization Forms C and D of valid UTF-8 text, from tables
// generated out of Python's unicodedata (unicode_nfc_tables.cc).
std::string ToNfc(std::string_view text);
std::string ToNfd(std::string_view text);

}  // namespace loraplex::engine::unicode

#endif  // LORAPLEX_ENGINE_TOKENIZER_UNICODE_TEXT_H_
