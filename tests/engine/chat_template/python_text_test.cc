#include "engine/chat_template/python_text.h"

#include "gtest/gtest.h"

namespace loraplex::chat {
namespace {

TEST(PythonTextTest, FloatReprIsPythons) {
  EXPECT_EQ(PyFloatRepr(1.0), "1.0");
  EXPECT_EQ(PyFloatRepr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(PyFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PyFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PyFloatRepr(1e-5), "1e-05");
  EXPECT_EQ(PyFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PyFloatRepr(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(PyFloatRepr(1.5e300), "1.5e+300");
  EXPECT_EQ(PyFloatRepr(-0.0), "-0.0");
}

TEST(PythonTextTest, StringReprQuotesAndEscapesAsPython) {
  EXPECT_EQ(PyStringRepr("a"), "'a'");
  EXPECT_EQ(PyStringRepr("it's"), "\"it's\"");
  EXPECT_EQ(PyStringRepr("'\""), "'\\'\"'");
  EXPECT_EQ(PyStringRepr("\t\n\x01\\"), "'\\t\\n\\x01\\\\'");
  EXPECT_EQ(PyStringRepr("\xc3\xa9\xc2\xa0"), "'\xc3\xa9\\xa0'");
}

TEST(PythonTextTest, StripAndSplitUseUnicodeWhitespace) {
  // U+3000 (ideographic space) and U+00A0 are whitespace to Python.
  EXPECT_EQ(PyStrip("\xe3\x80\x80 a\xc2\xa0", std::nullopt, StripSide::kBoth),
            "a");
  const std::vector<std::string> parts = PySplit(
      " a\xe3\x80\x80"
      "b  c ",
      std::nullopt, -1, false);
  EXPECT_EQ(parts, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(PySplit("  a b  c ", std::nullopt, 1, false),
            (std::vector<std::string>{"a", "b  c "}));
  EXPECT_EQ(PySplit("  a b  c ", std::nullopt, 1, true),
            (std::vector<std::string>{"  a b", "c"}));
  EXPECT_EQ(PySplit("a,,b", std::string(","), -1, false),
            (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(PySplit("a,b,c", std::string(","), 1, true),
            (std::vector<std::string>{"a,b", "c"}));
}

TEST(PythonTextTest, CaseMappingCoversCommonScripts) {
  EXPECT_EQ(PyUpperString("z\xc3\xbcrich \xc3\x9f"), "Z\xc3\x9cRICH SS");
  EXPECT_EQ(PyLowerString("\xce\x9f\xce\xb4\xce\xa3"),
            "\xce\xbf\xce\xb4\xcf\x82");
  EXPECT_EQ(PyTitle("they're bill's 1st"), "They'Re Bill'S 1St");
}

}  // namespace
}  // namespace loraplex::chat
