// UTF-8 helpers, Unicode properties and normalization forms, and GPT-2's
// byte-level alphabet. Normalization expectations come from Python's
// unicodedata.normalize.
#include <string>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/unicode_text.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

TEST(Utf8Test, ValidatesPerUnicodeTable) {
  EXPECT_TRUE(utf8::IsValid(""));
  EXPECT_TRUE(utf8::IsValid("a\u00e9\u6f22\U0001F642"));
  EXPECT_EQ(utf8::FirstInvalidOffset("ab\xC0\x80"), 2u);        // Overlong.
  EXPECT_EQ(utf8::FirstInvalidOffset("a\xED\xA0\x80"), 1u);     // Surrogate.
  EXPECT_EQ(utf8::FirstInvalidOffset("\xF4\x90\x80\x80"), 0u);  // > U+10FFFF.
  EXPECT_EQ(utf8::FirstInvalidOffset("abc\xE2\x82"), 3u);       // Truncated.
  EXPECT_EQ(utf8::FirstInvalidOffset("\x80"), 0u);  // Lone continuation.
  EXPECT_EQ(utf8::ValidCharLength("\xF0\x9F\x99\x82rest"), 4u);
  EXPECT_EQ(utf8::ValidCharLength(""), 0u);
}

TEST(Utf8Test, LossyConversionReplacesMaximalSubparts) {
  // The examples of Rust's String::from_utf8_lossy and Unicode's U+FFFD
  // substitution practice.
  EXPECT_EQ(utf8::FromBytesLossy("Hello \xF0\x90\x80World"),
            "Hello \uFFFDWorld");
  EXPECT_EQ(utf8::FromBytesLossy("\xE2\x82"), "\uFFFD");
  EXPECT_EQ(utf8::FromBytesLossy("\xE2\x82\xAC"), "\u20AC");
  EXPECT_EQ(utf8::FromBytesLossy("a\xFF\xFE"
                                 "b"),
            "a\uFFFD\uFFFDb");
  // E0 80: 80 cannot follow E0, so E0 and 80 are replaced one by one.
  EXPECT_EQ(utf8::FromBytesLossy("\xE0\x80"), "\uFFFD\uFFFD");
  EXPECT_EQ(utf8::FromBytesLossy("\xC0\xAF"), "\uFFFD\uFFFD");
  EXPECT_TRUE(utf8::EndsWithReplacementChar("ab\uFFFD"));
  EXPECT_FALSE(utf8::EndsWithReplacementChar("\uFFFDa"));
  EXPECT_FALSE(utf8::EndsWithReplacementChar(""));
}

TEST(Utf8Test, DecodesAndAppends) {
  const std::string text = "a\u00e9\u6f22\U0001F642";
  size_t pos = 0;
  EXPECT_EQ(utf8::DecodeAt(text, &pos), U'a');
  EXPECT_EQ(utf8::DecodeAt(text, &pos), U'\u00e9');
  EXPECT_EQ(utf8::DecodeAt(text, &pos), U'\u6f22');
  EXPECT_EQ(utf8::DecodeAt(text, &pos), U'\U0001F642');
  EXPECT_EQ(pos, text.size());
  EXPECT_EQ(utf8::LastCharStart(text), text.size() - 4);
  std::string out;
  for (char32_t c : {U'a', U'\u00e9', U'\u6f22', U'\U0001F642'})
    utf8::Append(c, &out);
  EXPECT_EQ(out, text);
}

TEST(UnicodeTest, WhiteSpaceAndWordCharacters) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', U'\u0085',
                     U'\u00a0', U'\u2003', U'\u2028', U'\u3000'}) {
    EXPECT_TRUE(unicode::IsWhiteSpace(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U'a', U'_', U'\u200b', U'\u001c'}) {
    EXPECT_FALSE(unicode::IsWhiteSpace(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c :
       {U'a', U'Z', U'7', U'_', U'\u00e9', U'\u6f22', U'\u0301', U'\u0663'}) {
    EXPECT_TRUE(unicode::IsWordChar(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U' ', U'-', U'!', U'\u3000', U'\U0001F642'}) {
    EXPECT_FALSE(unicode::IsWordChar(c)) << static_cast<uint32_t>(c);
  }
  EXPECT_EQ(unicode::LeadingWhiteSpaceLength(" \u3000x "), 4u);
  EXPECT_EQ(unicode::TrailingWhiteSpaceStart("x \u3000"), 1u);
  EXPECT_EQ(unicode::TrailingWhiteSpaceStart("   "), 0u);
}

TEST(UnicodeTest, NfcComposesReordersAndExcludes) {
  EXPECT_EQ(unicode::ToNfc("e\u0301"), "\u00e9");
  EXPECT_EQ(unicode::ToNfc("A\u030a"), "\u00c5");
  EXPECT_EQ(unicode::ToNfc("\u212b"), "\u00c5");              // Singleton.
  EXPECT_EQ(unicode::ToNfc("\u1e0b\u0323"), "\u1e0d\u0307");  // Reordered.
  EXPECT_EQ(unicode::ToNfc("q\u0307\u0323"), "q\u0323\u0307");
  EXPECT_EQ(unicode::ToNfc("\u0344"), "\u0308\u0301");        // Non-starter.
  EXPECT_EQ(unicode::ToNfc("\u0958"), "\u0915\u093c");        // Exclusion.
  EXPECT_EQ(unicode::ToNfc("\u1100\u1161\u11a8"), "\uac01");  // Hangul LVT.
  EXPECT_EQ(unicode::ToNfc("\uac00\u11a8"), "\uac01");        // Hangul LV+T.
  EXPECT_EQ(unicode::ToNfc("\u0301a"), "\u0301a");
  EXPECT_EQ(unicode::ToNfc("caf\u00e9 \u00fc plain"), "caf\u00e9 \u00fc plain");
  EXPECT_EQ(unicode::ToNfc(""), "");
}

TEST(UnicodeTest, NfdDecomposesFully) {
  EXPECT_EQ(unicode::ToNfd("caf\u00e9 \u00fc"), "cafe\u0301 u\u0308");
  EXPECT_EQ(unicode::ToNfd("\u1e0b\u0323"), "d\u0323\u0307");
  EXPECT_EQ(unicode::ToNfd("\uac01"), "\u1100\u1161\u11a8");
  EXPECT_EQ(unicode::ToNfd("ascii"), "ascii");
}

TEST(ByteLevelTest, AlphabetMatchesGpt2) {
  EXPECT_EQ(ByteLevelChar(' '), "\u0120");   // 'Ġ'
  EXPECT_EQ(ByteLevelChar('\n'), "\u010a");  // 'Ċ'
  EXPECT_EQ(ByteLevelChar('!'), "!");
  EXPECT_EQ(ByteLevelChar(0xAD), "\u0143");  // The last shifted byte.
  EXPECT_EQ(ByteLevelChar(0xFF), "\u00ff");
  EXPECT_EQ(ByteLevelByte(U'\u0120'), ' ');
  EXPECT_EQ(ByteLevelByte(U'\u0144'), std::nullopt);
  EXPECT_EQ(ByteLevelByte(U'\u6f22'), std::nullopt);
  for (int b = 0; b < 256; ++b) {
    const std::string_view c = ByteLevelChar(static_cast<uint8_t>(b));
    size_t pos = 0;
    EXPECT_EQ(ByteLevelByte(utf8::DecodeAt(c, &pos)), b);
  }
  EXPECT_EQ(ByteLevelEncode("a b\xC3\xA9"), "a\u0120b\u00c3\u00a9");
  std::string bytes;
  AppendByteLevelDecoded("a\u0120b\u00c3\u00a9", &bytes);
  EXPECT_EQ(bytes, "a b\xC3\xA9");
  // A token with a character outside the alphabet is kept as it is.
  bytes.clear();
  AppendByteLevelDecoded("\u0120<\u6f22>", &bytes);
  EXPECT_EQ(bytes, "\u0120<\u6f22>");
}

}  // namespace
}  // namespace loraplex::engine
