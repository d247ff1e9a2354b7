// SplitPattern (Oniguruma regexes on RE2, with the hand-evaluated
// `\s+(?!\S)`) and the Split behaviors, against outputs of HF tokenizers /
// Python's `regex` module for the same patterns.
#include "engine/tokenizer/split_pattern.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The matched texts, in order.
std::vector<std::string> Matches(const SplitPattern& pattern,
                                 const std::string& text) {
  std::vector<std::string> out;
  for (const PatternSpan& span : pattern.FindMatches(text)) {
    if (span.is_match)
      out.push_back(text.substr(span.begin, span.end - span.begin));
  }
  return out;
}

// "M:" or "G:" (gap) and the text of every span.
std::vector<std::string> Spans(const SplitPattern& pattern,
                               const std::string& text) {
  std::vector<std::string> out;
  for (const PatternSpan& span : pattern.FindMatches(text)) {
    out.push_back((span.is_match ? "M:" : "G:") +
                  text.substr(span.begin, span.end - span.begin));
  }
  return out;
}

std::unique_ptr<SplitPattern> MustRegex(const std::string& pattern) {
  auto result = SplitPattern::Regex(pattern);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : nullptr;
}

TEST(SplitPatternTest, Llama3PatternMatchesReference) {
  auto pattern = MustRegex(kLlama3Pattern);
  ASSERT_NE(pattern, nullptr);
  // Expected from Python's `regex` module, which supports the look-ahead.
  EXPECT_THAT(
      Matches(*pattern,
              "I'M here, DON'T   stop: 1234567 \u0663\u0663\u0663\u0663!\n\n  "
              "end  "),
      ElementsAre("I", "'M", " here", ",", " DON", "'T", "  ", " stop", ":",
                  " ", "123", "456", "7", " ", "\u0663\u0663\u0663", "\u0663",
                  "!\n\n", " ", " end", "  "));
}

TEST(SplitPatternTest, WhiteSpaceRunGivesItsLastCharacterToTheNextWord) {
  auto pattern = MustRegex(kGpt2Pattern);
  ASSERT_NE(pattern, nullptr);
  EXPECT_THAT(Matches(*pattern, "a   b"), ElementsAre("a", "  ", " b"));
  // At the end of the text the whole run matches.
  EXPECT_THAT(Matches(*pattern, "x  "), ElementsAre("x", "  "));
  // Newlines are whitespace too: " \n" before "b" keeps only " ", and the
  // lone "\n" falls to the last alternative \s+.
  EXPECT_THAT(Matches(*pattern, "a \nb"), ElementsAre("a", " ", "\n", "b"));
  // Unicode White_Space (U+3000, U+00A0) counts as \s.
  EXPECT_THAT(Matches(*pattern, "a\u3000\u3000b"),
              ElementsAre("a", "\u3000", "\u3000", "b"));
  EXPECT_THAT(Matches(*pattern, "\u00a0"), ElementsAre("\u00a0"));
}

TEST(SplitPatternTest, LookAheadWithoutFallbackLeavesSingleSpacesUnmatched) {
  auto pattern = MustRegex(R"(\p{L}+|\s+(?!\S))");
  ASSERT_NE(pattern, nullptr);
  EXPECT_THAT(Spans(*pattern, "ab c  d "),
              ElementsAre("M:ab", "G: ", "M:c", "M: ", "G: ", "M:d", "M: "));
}

TEST(SplitPatternTest, CaseInsensitiveContractions) {
  auto pattern = MustRegex(R"((?i:'s|'ll)|\p{L}+)");
  ASSERT_NE(pattern, nullptr);
  EXPECT_THAT(Matches(*pattern, "IT'S WE'LL it's"),
              ElementsAre("IT", "'S", "WE", "'LL", "it", "'s"));
}

TEST(SplitPatternTest, UnicodeClassesAsInOniguruma) {
  // \d is any decimal digit, \w includes non-ASCII letters, \s Unicode space.
  auto digits = MustRegex(R"(\d+)");
  ASSERT_NE(digits, nullptr);
  EXPECT_THAT(Matches(*digits, "a12\u0663\u0664b"),
              ElementsAre("12\u0663\u0664"));
  auto words = MustRegex(R"(\w+)");
  ASSERT_NE(words, nullptr);
  EXPECT_THAT(Matches(*words, "caf\u00e9 na\u00efve_x"),
              ElementsAre("caf\u00e9", "na\u00efve_x"));
  auto spaces = MustRegex(R"([\s,]+)");
  ASSERT_NE(spaces, nullptr);
  EXPECT_THAT(Matches(*spaces, "a,\u3000b"), ElementsAre(",\u3000"));
  // ^ and $ are line anchors in Oniguruma.
  auto line_start = MustRegex(R"(^\p{L})");
  ASSERT_NE(line_start, nullptr);
  EXPECT_THAT(Matches(*line_start, "ab\ncd"), ElementsAre("a", "c"));
}

TEST(SplitPatternTest, EmptyMatchesFollowRustFindIter) {
  // Rust's find_iter: an empty match right after a match is skipped.
  auto pattern = MustRegex("x*");
  ASSERT_NE(pattern, nullptr);
  EXPECT_THAT(Spans(*pattern, "axb"),
              ElementsAre("M:", "G:a", "M:x", "G:b", "M:"));
  EXPECT_THAT(Spans(*pattern, ""), ElementsAre("G:"));
}

TEST(SplitPatternTest, LiteralPattern) {
  auto pattern = SplitPattern::Literal("ab");
  ASSERT_TRUE(pattern.ok());
  EXPECT_THAT(Spans(**pattern, "aabbab"),
              ElementsAre("G:a", "M:ab", "G:b", "M:ab"));
  EXPECT_THAT(Spans(**pattern, "ccc"), ElementsAre("G:ccc"));
  // Regex metacharacters in a literal are plain text.
  auto dot = SplitPattern::Literal(".");
  ASSERT_TRUE(dot.ok());
  EXPECT_THAT(Spans(**dot, "a.b"), ElementsAre("G:a", "M:.", "G:b"));
}

TEST(SplitPatternTest, UnsupportedPatternsAreRefusedWithTheReason) {
  struct Case {
    std::string pattern;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {R"((?<=a)b)", "look-around \"(?<=\""},
           {R"(a(?!b)|\s+)", "look-around \"(?!\""},
           {R"(\s+(?!\S)|\p{L}+)", "look-around"},  // Not the last alternative.
           {R"((a)\1)", "not supported"},           // Back-reference.
           {R"(a++)", "not supported"},             // Possessive.
           {R"([\S])", "\\S inside a character class"},
           {R"(\h+)", "\\h"},
           {R"((ab)", "not supported"},
       }) {
    auto result = SplitPattern::Regex(c.pattern);
    ASSERT_FALSE(result.ok()) << c.pattern;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr(c.message)) << c.pattern;
  }
  auto empty = SplitPattern::Literal("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));
}

// HF's split.rs test: pattern \w+|[^\w\s]+ inverted, on "How are you doing?".
std::vector<std::string> SplitWith(SplitBehavior behavior, bool invert) {
  auto pattern = SplitPattern::Regex(R"(\w+|[^\w\s]+)");
  EXPECT_TRUE(pattern.ok());
  const std::string text = "How are you doing?";
  std::vector<std::string> out;
  for (const PatternSpan& piece :
       ApplySplitBehavior((*pattern)->FindMatches(text), behavior, invert)) {
    out.push_back(text.substr(piece.begin, piece.end - piece.begin));
  }
  return out;
}

TEST(SplitBehaviorTest, MatchesHfSplitTests) {
  EXPECT_THAT(SplitWith(SplitBehavior::kRemoved, true),
              ElementsAre("How", "are", "you", "doing", "?"));
  EXPECT_THAT(SplitWith(SplitBehavior::kIsolated, true),
              ElementsAre("How", " ", "are", " ", "you", " ", "doing", "?"));
  EXPECT_THAT(SplitWith(SplitBehavior::kMergedWithPrevious, true),
              ElementsAre("How ", "are ", "you ", "doing", "?"));
  EXPECT_THAT(SplitWith(SplitBehavior::kMergedWithNext, true),
              ElementsAre("How", " are", " you", " doing", "?"));
  EXPECT_THAT(SplitWith(SplitBehavior::kContiguous, true),
              ElementsAre("How", " ", "are", " ", "you", " ", "doing?"));
  // Not inverted, Removed drops the words and keeps the spaces.
  EXPECT_THAT(SplitWith(SplitBehavior::kRemoved, false),
              ElementsAre(" ", " ", " "));
}

TEST(SplitBehaviorTest, ParsesHfNames) {
  EXPECT_EQ(*ParseSplitBehavior("MergedWithNext"),
            SplitBehavior::kMergedWithNext);
  auto bad = ParseSplitBehavior("Merged");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"Merged\""));
}

}  // namespace
}  // namespace loraplex::engine
