#include "engine/sampling/stop_string_matcher.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

struct StreamResult {
  std::vector<std::string> emitted;  // One entry per Push.
  std::string text;                  // Everything emitted, Flush included.
  bool stopped = false;
};

StreamResult Feed(std::vector<std::string> stops,
                  const std::vector<std::string>& pieces) {
  StopStringMatcher matcher(std::move(stops));
  StreamResult run;
  for (const std::string& piece : pieces) {
    StopStringMatcher::Result result = matcher.Push(piece);
    run.emitted.push_back(result.text);
    run.text += result.text;
    run.stopped = run.stopped || result.stopped;
  }
  run.text += matcher.Flush();
  return run;
}

// True when `text` is well-formed UTF-8 (complete characters only).
bool IsCompleteUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80         ? 1
                    : (c >> 5) == 6  ? 2
                    : (c >> 4) == 14 ? 3
                    : (c >> 3) == 30 ? 4
                                     : 0;
    if (length == 0 || i + length > text.size()) {
      return false;
    }
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

TEST(StopStringMatcherTest, WithoutStopsTextPassesThrough) {
  const StreamResult run = Feed({}, {"Hello", ", ", "world"});
  EXPECT_EQ(run.emitted, (std::vector<std::string>{"Hello", ", ", "world"}));
  EXPECT_FALSE(run.stopped);
}

TEST(StopStringMatcherTest, EmptyStopStringsAreIgnored) {
  const StreamResult run = Feed({"", ""}, {"abc", "def"});
  EXPECT_EQ(run.emitted, (std::vector<std::string>{"abc", "def"}));
  EXPECT_FALSE(run.stopped);
}

TEST(StopStringMatcherTest, StopInsideOnePiece) {
  const StreamResult run = Feed({"</s>"}, {"foo</s>bar"});
  EXPECT_EQ(run.text, "foo");
  EXPECT_TRUE(run.stopped);
}

TEST(StopStringMatcherTest, StopSplitAcrossPieces) {
  const StreamResult run =
      Feed({"</s>"}, {"Hello wor", "ld<", "/s", ">rest", "more"});
  EXPECT_EQ(run.emitted,
            (std::vector<std::string>{"Hello wor", "ld", "", "", ""}));
  EXPECT_EQ(run.text, "Hello world");
  EXPECT_TRUE(run.stopped);
}

TEST(StopStringMatcherTest, StopSplitIntoSingleBytes) {
  std::vector<std::string> pieces;
  for (char c : std::string("answer: 42\n\nUser: hi")) {
    pieces.push_back(std::string(1, c));
  }
  const StreamResult run = Feed({"\n\nUser:"}, pieces);
  EXPECT_EQ(run.text, "answer: 42");
  EXPECT_TRUE(run.stopped);
}

TEST(StopStringMatcherTest, HoldsBackOnlyAPossibleStopPrefix) {
  StopStringMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.Push("abcST").text, "abc");  // "ST" may begin "STOP"
  EXPECT_EQ(matcher.Push("x").text, "STx");      // ...it did not.
  EXPECT_EQ(matcher.Push("S").text, "");
  EXPECT_EQ(matcher.Flush(), "S");
}

TEST(StopStringMatcherTest, NoFalsePositives) {
  const StreamResult run =
      Feed({"</s>"}, {"<", "/", "x", "</", "s", "<//s>", "</ s>"});
  EXPECT_EQ(run.text, "</x</s<//s></ s>");
  EXPECT_FALSE(run.stopped);
}

TEST(StopStringMatcherTest, EarliestMatchWinsAmongSeveralStops) {
  EXPECT_EQ(Feed({"STOP", "END"}, {"a END b STOP"}).text, "a ");
  EXPECT_EQ(Feed({"STOP", "END"}, {"a ST", "OP b END"}).text, "a ");
}

TEST(StopStringMatcherTest, OverlappingCandidates) {
  // Candidates "abcd" and "bcX" overlap while pending; the one that occurs
  // wins.
  EXPECT_EQ(Feed({"bcX", "abcd"}, {"xab", "c", "d"}).text, "x");
  // A stop that overlaps itself.
  EXPECT_EQ(Feed({"aab"}, {"a", "a", "a", "b"}).text, "a");
  // One stop string's prefix is another's suffix.
  EXPECT_EQ(Feed({"xyz", "yzq"}, {"ax", "y", "zq"}).text, "a");
}

TEST(StopStringMatcherTest, NothingAfterStop) {
  StopStringMatcher matcher({"!"});
  StopStringMatcher::Result first = matcher.Push("hi!there");
  EXPECT_EQ(first.text, "hi");
  EXPECT_TRUE(first.stopped);
  StopStringMatcher::Result after = matcher.Push("more");
  EXPECT_EQ(after.text, "");
  EXPECT_FALSE(after.stopped);
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopStringMatcherTest, FlushReleasesHeldBackText) {
  StopStringMatcher matcher({"<end>"});
  EXPECT_EQ(matcher.Push("value <en").text, "value ");
  EXPECT_EQ(matcher.Flush(), "<en");
}

TEST(StopStringMatcherTest, HoldsWholeCharactersOfAMultiByteStop) {
  // "€" is E2 82 AC; the stop is "€!".
  StopStringMatcher matcher({"\xE2\x82\xAC!"});
  EXPECT_EQ(matcher.Push("10\xE2\x82\xAC").text, "10");
  EXPECT_EQ(matcher.Push("?").text, "\xE2\x82\xAC?");
}

TEST(StopStringMatcherTest, NeverEmitsHalfACharacter) {
  // "é" (C3 A9) arrives split across pieces.
  const StreamResult run = Feed({}, {"caf", "\xC3", "\xA9 ok"});
  EXPECT_EQ(run.emitted, (std::vector<std::string>{"caf", "", "\xC3\xA9 ok"}));
  // A stop whose first byte continues a character: the hold-back moves back
  // to the start of that character.
  StopStringMatcher matcher({"\xA9x"});
  EXPECT_EQ(matcher.Push("ab\xC3\xA9").text, "ab");
  EXPECT_EQ(matcher.Push("y").text, "\xC3\xA9y");
}

// Random texts in random pieces: the output is always the text cut at the
// earliest stop string, and every emitted piece is complete UTF-8.
TEST(StopStringMatcherTest, MatchesReferenceOnRandomStreams) {
  const std::vector<std::string> alphabet = {"a", "b",        "<",
                                             "/", "\xC3\xA9", "\xE2\x82\xAC"};
  const std::vector<std::string> stops = {"</b>", "ab\xC3\xA9",
                                          "\xE2\x82\xAC<"};
  std::mt19937 rng(99);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int length = static_cast<int>(rng() % 30);
    for (int i = 0; i < length; ++i) {
      text += alphabet[rng() % alphabet.size()];
    }
    size_t cut = std::string::npos;
    for (const std::string& stop : stops) {
      cut = std::min(cut, text.find(stop));
    }
    const std::string expected = text.substr(0, cut);
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t size = 1 + rng() % 4;
      pieces.push_back(text.substr(pos, size));
      pos += size;
    }
    const StreamResult run = Feed(stops, pieces);
    ASSERT_EQ(run.text, expected) << "trial " << trial << " text " << text;
    EXPECT_EQ(run.stopped, cut != std::string::npos);
    for (const std::string& emitted : run.emitted) {
      ASSERT_TRUE(IsCompleteUtf8(emitted)) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace loraplex::engine
