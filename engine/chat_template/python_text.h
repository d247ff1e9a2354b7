// Python's text semantics on UTF-8 strings, as far as chat templates need
// them: code-point indexing, str.strip/split/upper/..., str() and repr() of
// numbers, and str.isprintable for repr's escapes.
//
// Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// (plus 'ß'.upper() == 'SS'); other scripts pass through unchanged, where
// Python would map a few more letters. Whitespace is Python's str.isspace()
// set. Invalid UTF-8 never reaches here (inputs come from JSON).
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_PYTHON_TEXT_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_PYTHON_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loraplex::chat {

// UTF-8 <-> code points. Decoding maps a malformed byte to U+FFFD.
std::u32string DecodeUtf8(std::string_view text);
std::string EncodeUtf8(std::u32string_view text);
void AppendUtf8(char32_t c, std::string& out);
// Number of code points (Python's len(str)).
size_t CodePointCount(std::string_view text);

bool IsPySpace(char32_t c);      // str.isspace()
bool IsPyPrintable(char32_t c);  // str.isprintable() (approximate for Cn)
char32_t PyLower(char32_t c);
char32_t PyUpper(char32_t c);
bool IsPyCased(char32_t c);  // Has a distinct upper or lower form.
bool IsPyAlpha(char32_t c);
bool IsPyDigit(char32_t c);  // ASCII digits only.

std::string PyUpperString(std::string_view s);
std::string PyLowerString(std::string_view s);
std::string PyCapitalize(std::string_view s);  // str.capitalize()
std::string PyTitle(std::string_view s);       // str.title()
bool PyIsLower(std::string_view s);
bool PyIsUpper(std::string_view s);

enum class StripSide { kLeft, kRight, kBoth };
// str.strip()/lstrip()/rstrip(); `chars` nullopt strips whitespace.
std::string PyStrip(std::string_view s, const std::optional<std::string>& chars,
                    StripSide side);
// str.split(sep, maxsplit) / rsplit; sep nullopt splits on whitespace runs.
// An empty sep is the caller's error to report.
std::vector<std::string> PySplit(std::string_view s,
                                 const std::optional<std::string>& sep,
                                 int64_t maxsplit, bool from_right);
// str.splitlines() (without keepends).
std::vector<std::string> PySplitLines(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all.
std::string PyReplace(std::string_view s, std::string_view old_text,
                      std::string_view new_text, int64_t count);
// str.find on code-point positions; -1 when absent.
int64_t PyFind(std::string_view s, std::string_view sub, bool from_right);
// str.count(sub) (non-overlapping; "" counts len+1).
int64_t PyCount(std::string_view s, std::string_view sub);

// repr(str): single quotes unless the text has ' and no ", escapes as
// Python does.
std::string PyStringRepr(std::string_view s);
// repr(float) / str(float): shortest round trip, "1.0", "1e+16", "inf",
// "nan".
std::string PyFloatRepr(double d);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_PYTHON_TEXT_H_
