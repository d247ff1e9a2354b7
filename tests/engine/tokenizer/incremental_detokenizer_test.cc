// IncrementalDetokenizer: streamed pieces add up to Decode(all ids), never
// cut a UTF-8 character, and the decode window stays short.
#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace loraplex::engine {
namespace {

using ::testing::ElementsAre;
using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::BpeTokenizerJson;
using testing::IsStrictUtf8;
using testing::MustCreate;
using testing::StreamPieces;
using testing::TokenizerFixtureDir;

constexpr int32_t kEndId = 256;  // A special added token "<|end|>".

// Byte-level vocabulary without merges: the id of a token is its byte.
std::unique_ptr<Tokenizer> ByteTokenizer() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    tokens.emplace_back(ByteLevelChar(static_cast<uint8_t>(b)));
  }
  json config = BpeTokenizerJson(tokens);
  config["added_tokens"] =
      json::array({AddedTokenJson(kEndId, "<|end|>", true)});
  config["pre_tokenizer"] = {{"type", "ByteLevel"},
                             {"add_prefix_space", false}};
  config["decoder"] = {{"type", "ByteLevel"}};
  return MustCreate(config);
}

std::vector<int32_t> ByteIds(const std::string& bytes) {
  std::vector<int32_t> ids;
  for (char b : bytes) ids.push_back(static_cast<uint8_t>(b));
  return ids;
}

TEST(IncrementalDetokenizerTest, HoldsBackPartialCharacters) {
  std::unique_ptr<Tokenizer> tokenizer = ByteTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> ids =
      *tokenizer->Encode("a\U0001F642\u00e9", false);
  ASSERT_EQ(ids, ByteIds("a\U0001F642\u00e9"));
  EXPECT_THAT(StreamPieces(*tokenizer, ids, /*skip_special_tokens=*/true),
              ElementsAre("a", "", "", "", "\U0001F642", "", "\u00e9", ""));
}

TEST(IncrementalDetokenizerTest,
     InvalidAndTruncatedBytesBecomeReplacementChars) {
  std::unique_ptr<Tokenizer> tokenizer = ByteTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  // A lone 0xFF is held (it ends in U+FFFD) until text follows it.
  EXPECT_THAT(StreamPieces(*tokenizer,
                           ByteIds("\xFF"
                                   "a"),
                           true),
              ElementsAre("", "\uFFFDa", ""));
  // A character cut off at the end comes out of Flush as Decode has it.
  const std::vector<int32_t> cut = ByteIds("a\xE2\x82");
  EXPECT_EQ(tokenizer->Decode(cut, true), "a\uFFFD");
  EXPECT_THAT(StreamPieces(*tokenizer, cut, true),
              ElementsAre("a", "", "", "\uFFFD"));
}

// A Llama-2-style vocabulary: ids 0-255 are the byte-fallback tokens
// "<0x00>".."<0xFF>", 256 is "a"; decoded by ByteFallback then Fuse.
std::unique_ptr<Tokenizer> ByteFallbackTokenizer() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.push_back(absl::StrFormat("<0x%02X>", b));
  tokens.emplace_back("a");
  json config = BpeTokenizerJson(tokens);
  config["model"]["byte_fallback"] = true;
  config["decoder"] = {{"type", "Sequence"},
                       {"decoders", json::array({{{"type", "ByteFallback"}},
                                                 {{"type", "Fuse"}}})}};
  return MustCreate(config);
}

TEST(IncrementalDetokenizerTest, ByteFallbackRunsStreamAsDecodeHasThem) {
  // HF decodes a run of byte tokens as one: valid UTF-8 gives its text,
  // anything else one U+FFFD per token. So "\x01h" must not be streamed
  // before the run ends: 0xE2 0x49 0xD7 make all five tokens U+FFFD.
  // (Found by fuzz/tokenizer_json; fuzz/regressions/tokenizer_json.)
  std::unique_ptr<Tokenizer> tokenizer = ByteFallbackTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> invalid = {0x01, 0x68, 0xE2, 0x49, 0xD7};
  const std::string replaced = tokenizer->Decode(invalid, false);
  EXPECT_EQ(replaced, "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(absl::StrJoin(StreamPieces(*tokenizer, invalid, false), ""),
            replaced);
  // A valid run comes out once a token that is not a byte token ends it.
  const int32_t a = 256;
  EXPECT_THAT(StreamPieces(*tokenizer, {0xE4, 0xBD, 0xA0, a, 0x68}, false),
              ElementsAre("", "", "", "\u4f60a", "", "h"));
}

TEST(IncrementalDetokenizerTest, StripOfSeveralCharactersKeepsInnerSpaces) {
  // Strip may trim more than the first token ("start": 5 trims five leading
  // spaces of the fused text), so a window starting at a token that is all
  // spaces would lose spaces the full Decode keeps.
  // (Found by fuzz/tokenizer_json; fuzz/regressions/tokenizer_json.)
  json config = BpeTokenizerJson({"a", " "});
  config["decoder"] = {{"type", "Sequence"},
                       {"decoders", json::array({{{"type", "Fuse"}},
                                                 {{"type", "Strip"},
                                                  {"content", " "},
                                                  {"start", 5},
                                                  {"stop", 0}}})}};
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(config);
  ASSERT_NE(tokenizer, nullptr);
  for (const std::vector<int32_t>& ids : {std::vector<int32_t>{0, 1, 1, 0},
                                          {1, 1, 0, 1, 1, 1, 0, 1},
                                          {0, 1, 1, 1, 1, 1, 1, 1, 0}}) {
    EXPECT_EQ(absl::StrJoin(StreamPieces(*tokenizer, ids, false), ""),
              tokenizer->Decode(ids, false));
  }
  EXPECT_EQ(tokenizer->Decode({0, 1, 1, 0}, false), "a  a");
}

TEST(IncrementalDetokenizerTest, IdsWithoutATokenDoNotEndAByteFallbackRun) {
  // Decode drops an id the vocabulary has no token for (a gap below
  // vocab_size), so it does not end a run of byte tokens either.
  // (Found by fuzz/tokenizer_json; fuzz/regressions/tokenizer_json.)
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.push_back(absl::StrFormat("<0x%02X>", b));
  json config = BpeTokenizerJson(tokens);
  config["model"]["vocab"]["a"] = 300;  // Ids 256-299 have no token.
  config["model"]["byte_fallback"] = true;
  config["decoder"] = {{"type", "ByteFallback"}};
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(config);
  ASSERT_NE(tokenizer, nullptr);
  ASSERT_EQ(tokenizer->vocab_size(), 301);
  const std::vector<int32_t> ids = {0x07, 260, 0x8E, 300};
  EXPECT_EQ(tokenizer->Decode(ids, false), "\uFFFD\uFFFDa");
  EXPECT_EQ(absl::StrJoin(StreamPieces(*tokenizer, ids, false), ""),
            "\uFFFD\uFFFDa");
}

TEST(IncrementalDetokenizerTest, SpecialTokensSkippedOrShown) {
  std::unique_ptr<Tokenizer> tokenizer = ByteTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> ids = {'h', 'i', kEndId, '!'};
  EXPECT_THAT(StreamPieces(*tokenizer, ids, /*skip_special_tokens=*/true),
              ElementsAre("h", "i", "", "!", ""));
  EXPECT_THAT(StreamPieces(*tokenizer, ids, /*skip_special_tokens=*/false),
              ElementsAre("h", "i", "<|end|>", "!", ""));
  // Ids outside the vocabulary decode to nothing, streamed or not.
  EXPECT_THAT(StreamPieces(*tokenizer, {'a', -1, 100000, 'b'}, true),
              ElementsAre("a", "", "", "b", ""));
}

TEST(IncrementalDetokenizerTest, FlushWithNothingPendingAndPushAfterFlush) {
  std::unique_ptr<Tokenizer> tokenizer = ByteTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  IncrementalDetokenizer detokenizer(*tokenizer, true);
  EXPECT_EQ(detokenizer.Flush(), "");
  EXPECT_EQ(detokenizer.Push('x'), "x");
  EXPECT_EQ(detokenizer.Flush(), "");
  EXPECT_EQ(detokenizer.Push('y'), "y");
}

// SentencePiece drops the leading space of the first piece it decodes; a
// window that starts mid-text must not lose the space of its first piece.
TEST(IncrementalDetokenizerTest, SentencePieceKeepsSpacesMidStream) {
  auto tokenizer = Tokenizer::Load(TokenizerFixtureDir("sentencepiece-bpe"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::string text = " Hello  world, the lazy dog ";
  auto ids = (*tokenizer)->Encode(text, true);
  ASSERT_TRUE(ids.ok());
  for (bool skip : {true, false}) {
    const std::vector<std::string> pieces =
        StreamPieces(**tokenizer, *ids, skip);
    EXPECT_EQ(absl::StrJoin(pieces, ""), (*tokenizer)->Decode(*ids, skip));
  }
  EXPECT_EQ((*tokenizer)->Decode(*ids, true), text);
}

// Random ids, many of them byte pieces that do not form UTF-8: the pieces
// still add up to Decode(all ids) and are each valid UTF-8.
void ExpectStreamingMatchesDecode(const Tokenizer& tokenizer, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int32_t> id(-2, tokenizer.vocab_size() + 1);
  std::uniform_int_distribution<int> length(0, 40);
  for (int round = 0; round < 300; ++round) {
    std::vector<int32_t> ids(length(random));
    for (int32_t& i : ids) i = id(random);
    for (bool skip : {true, false}) {
      const std::vector<std::string> pieces =
          StreamPieces(tokenizer, ids, skip);
      ASSERT_EQ(absl::StrJoin(pieces, ""), tokenizer.Decode(ids, skip))
          << "round " << round << " skip " << skip;
      for (const std::string& piece : pieces)
        ASSERT_TRUE(IsStrictUtf8(piece)) << piece;
    }
  }
}

TEST(IncrementalDetokenizerTest, RandomByteLevelStreamsMatchDecode) {
  std::unique_ptr<Tokenizer> tokenizer = ByteTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  ExpectStreamingMatchesDecode(*tokenizer, 1);
}

TEST(IncrementalDetokenizerTest, RandomSentencePieceStreamsMatchDecode) {
  auto tokenizer = Tokenizer::Load(TokenizerFixtureDir("sentencepiece-bpe"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ExpectStreamingMatchesDecode(**tokenizer, 2);
}

TEST(IncrementalDetokenizerTest, RandomFixtureByteLevelStreamsMatchDecode) {
  auto tokenizer = Tokenizer::Load(TokenizerFixtureDir("bytelevel-gpt2"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ExpectStreamingMatchesDecode(**tokenizer, 3);
}

// Delegates to a real tokenizer and records how many ids each Decode sees.
class WindowRecordingTokenizer : public Tokenizer {
 public:
  explicit WindowRecordingTokenizer(const Tokenizer& real) : real_(real) {}
  absl::StatusOr<std::vector<int32_t>> Encode(
      std::string_view text, bool add_special_tokens) const override {
    return real_.Encode(text, add_special_tokens);
  }
  std::string Decode(absl::Span<const int32_t> ids, bool skip) const override {
    longest_window_ = std::max(longest_window_, ids.size());
    return real_.Decode(ids, skip);
  }
  int32_t vocab_size() const override { return real_.vocab_size(); }
  bool IsSpecial(int32_t id) const override { return real_.IsSpecial(id); }
  std::optional<int32_t> TokenToId(std::string_view token) const override {
    return real_.TokenToId(token);
  }
  std::optional<int32_t> bos_token_id() const override {
    return real_.bos_token_id();
  }
  std::optional<int32_t> eos_token_id() const override {
    return real_.eos_token_id();
  }

  size_t longest_window() const { return longest_window_; }

 private:
  const Tokenizer& real_;
  mutable size_t longest_window_ = 0;
};

TEST(IncrementalDetokenizerTest, WindowStaysShortOnLongStreams) {
  auto real = Tokenizer::Load(TokenizerFixtureDir("bytelevel-gpt2"));
  ASSERT_TRUE(real.ok()) << real.status();
  WindowRecordingTokenizer tokenizer(**real);
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text += "The quick brown fox \U0001F642 jumps, \u4f4e\u79e9\u9002\u914d! ";
  }
  auto ids = tokenizer.Encode(text, false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GT(ids->size(), 1000u);
  const std::vector<std::string> pieces = StreamPieces(tokenizer, *ids, true);
  EXPECT_EQ(absl::StrJoin(pieces, ""), text);
  // At most a 4-byte character's worth of pending tokens plus the previous
  // emission (one token here, since every token of this text is known).
  EXPECT_LE(tokenizer.longest_window(), 8u);
}

}  // namespace
}  // namespace loraplex::engine
