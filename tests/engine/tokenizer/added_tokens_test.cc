// Added tokens: matched in the text before pre-tokenization, never split,
// with HF's lstrip/rstrip/single_word/normalized options.
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace loraplex::engine {
namespace {

using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::AsciiId;
using testing::AsciiTokens;
using testing::BpeTokenizerJson;
using testing::MustCreate;

// Character-level ASCII vocabulary (ids 0..94) plus `added` tokens.
std::unique_ptr<Tokenizer> AsciiWith(const std::vector<json>& added,
                                     json normalizer = nullptr) {
  json config = BpeTokenizerJson(AsciiTokens());
  config["added_tokens"] = json(added);
  config["normalizer"] = std::move(normalizer);
  config["decoder"] = {{"type", "Fuse"}};
  return MustCreate(config);
}

std::vector<int32_t> Ids(const std::string& text) {
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(AsciiId(c));
  return ids;
}

std::vector<int32_t> Concat(std::vector<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

TEST(AddedTokensTest, SpecialTokenInTheMiddleIsOneIdAndSkippedOnDecode) {
  std::unique_ptr<Tokenizer> tokenizer =
      AsciiWith({AddedTokenJson(100, "<|x|>", true)});
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> ids = *tokenizer->Encode("ab<|x|>cd<|x|>", false);
  EXPECT_EQ(ids, Concat({Ids("ab"), {100}, Ids("cd"), {100}}));
  EXPECT_EQ(tokenizer->Decode(ids, /*skip_special_tokens=*/true), "abcd");
  EXPECT_EQ(tokenizer->Decode(ids, /*skip_special_tokens=*/false),
            "ab<|x|>cd<|x|>");
  EXPECT_TRUE(tokenizer->IsSpecial(100));
  EXPECT_EQ(tokenizer->TokenToId("<|x|>"), 100);
  EXPECT_EQ(tokenizer->vocab_size(), 101);
  // Text that only resembles the token is split normally.
  EXPECT_EQ(*tokenizer->Encode("<|x>", false), Ids("<|x>"));
}

TEST(AddedTokensTest, NonSpecialTokenIsKeptWhenSkippingSpecialOnes) {
  std::unique_ptr<Tokenizer> tokenizer =
      AsciiWith({AddedTokenJson(100, "<tool>", false)});
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> ids = *tokenizer->Encode("a<tool>", false);
  EXPECT_EQ(ids, Concat({Ids("a"), {100}}));
  EXPECT_FALSE(tokenizer->IsSpecial(100));
  EXPECT_EQ(tokenizer->Decode(ids, /*skip_special_tokens=*/true), "a<tool>");
}

TEST(AddedTokensTest, LeftmostLongestMatchWins) {
  std::unique_ptr<Tokenizer> tokenizer = AsciiWith(
      {AddedTokenJson(100, "<a>", true), AddedTokenJson(101, "<a>b", true),
       AddedTokenJson(102, "a>b", true)});
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("<a>bc", false), Concat({{101}, Ids("c")}));
  EXPECT_EQ(*tokenizer->Encode("<a>c", false), Concat({{100}, Ids("c")}));
  EXPECT_EQ(*tokenizer->Encode("xa>b", false), Concat({Ids("x"), {102}}));
}

TEST(AddedTokensTest, LstripAndRstripTakeTheSurroundingWhiteSpace) {
  json left = AddedTokenJson(100, "<m>", true);
  left["lstrip"] = true;
  json right = AddedTokenJson(101, "<n>", true);
  right["rstrip"] = true;
  std::unique_ptr<Tokenizer> tokenizer = AsciiWith({left, right});
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("a  <m> b", false),
            Concat({Ids("a"), {100}, Ids(" b")}));
  EXPECT_EQ(*tokenizer->Encode("a <n>  b", false),
            Concat({Ids("a "), {101}, Ids("b")}));
  // The spaces between two tokens go to the first one that claims them.
  EXPECT_EQ(*tokenizer->Encode("<n> <m>", false),
            (std::vector<int32_t>{101, 100}));
}

TEST(AddedTokensTest, SingleWordMatchesOnlyWholeWords) {
  json word = AddedTokenJson(100, "ok", false);
  word["single_word"] = true;
  std::unique_ptr<Tokenizer> tokenizer = AsciiWith({word});
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("ok now", false), Concat({{100}, Ids(" now")}));
  EXPECT_EQ(*tokenizer->Encode("say ok!", false),
            Concat({Ids("say "), {100}, Ids("!")}));
  EXPECT_EQ(*tokenizer->Encode("book", false), Ids("book"));
  EXPECT_EQ(*tokenizer->Encode("oki", false), Ids("oki"));
}

TEST(AddedTokensTest, RawTokensMatchBeforeNormalizingNormalizedOnesAfter) {
  const json lowercase_x = {
      {"type", "Replace"}, {"pattern", {{"String", "X"}}}, {"content", "x"}};
  // <X> (not normalized) matches the raw text; "xx" (normalized) matches
  // after the normalizer turned "XX" into "xx", and its own content is
  // normalized the same way.
  json raw = AddedTokenJson(100, "<X>", true);
  json normalized = AddedTokenJson(101, "Xx", false);
  std::unique_ptr<Tokenizer> tokenizer =
      AsciiWith({raw, normalized}, lowercase_x);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("<X>X", false), Concat({{100}, Ids("x")}));
  EXPECT_EQ(*tokenizer->Encode("aXX", false), Concat({Ids("a"), {101}}));
  EXPECT_EQ(*tokenizer->Encode("axx", false), Concat({Ids("a"), {101}}));
}

}  // namespace
}  // namespace loraplex::engine
