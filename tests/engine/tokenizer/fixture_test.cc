// The reference fixtures: every probe text must encode to the ids HF
// tokenizers / sentencepiece produced, and decode (at once and streamed) to
// the reference decoding.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace loraplex::engine {
namespace {

using testing::IsStrictUtf8;
using testing::LoadTokenizerCases;
using testing::StreamPieces;
using testing::TokenizerCase;
using testing::TokenizerFixtureDir;

struct FixtureSpec {
  std::string name;
  // The fixtures' ids: bytelevel-gpt2 without special tokens, the
  // SentencePiece one with BOS (fixtures README).
  bool add_special_tokens;
};

std::string PrintName(const ::testing::TestParamInfo<FixtureSpec>& info) {
  std::string name = info.param.name;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

class TokenizerFixtureTest : public ::testing::TestWithParam<FixtureSpec> {
 protected:
  void SetUp() override {
    auto tokenizer = Tokenizer::Load(TokenizerFixtureDir(GetParam().name));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    cases_ = LoadTokenizerCases(GetParam().name);
    ASSERT_GE(cases_.size(), 10u);
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<TokenizerCase> cases_;
};

TEST_P(TokenizerFixtureTest, EncodeMatchesReference) {
  for (const TokenizerCase& c : cases_) {
    auto ids = tokenizer_->Encode(c.text, GetParam().add_special_tokens);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c.ids) << "text: " << c.text;
  }
}

TEST_P(TokenizerFixtureTest, DecodeMatchesReference) {
  for (const TokenizerCase& c : cases_) {
    // The bytelevel reference kept its special tokens in the decoding
    // ("<|begin_of_text|>Hi..."); the SentencePiece one dropped BOS.
    const bool skip = GetParam().add_special_tokens;
    EXPECT_EQ(tokenizer_->Decode(c.ids, skip), c.decoded) << "text: " << c.text;
    // Every probe text survives the round trip in these fixtures.
    EXPECT_EQ(c.decoded, c.text);
  }
}

TEST_P(TokenizerFixtureTest, StreamedDecodeMatchesReferenceInValidPieces) {
  const bool skip = GetParam().add_special_tokens;
  for (const TokenizerCase& c : cases_) {
    const std::vector<std::string> pieces =
        StreamPieces(*tokenizer_, c.ids, skip);
    EXPECT_EQ(absl::StrJoin(pieces, ""), c.decoded) << "text: " << c.text;
    for (const std::string& piece : pieces) {
      EXPECT_TRUE(IsStrictUtf8(piece))
          << "text: " << c.text << " piece: " << piece;
    }
  }
}

TEST_P(TokenizerFixtureTest, ConcurrentEncodesAgree) {
  std::vector<std::vector<int32_t>> expected;
  for (const TokenizerCase& c : cases_) expected.push_back(c.ids);
  constexpr int kThreads = 4;
  std::vector<std::vector<std::vector<int32_t>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Several rounds so the threads overlap and the word cache is both
      // filled and read concurrently.
      for (int round = 0; round < 20; ++round) {
        results[t].clear();
        for (const TokenizerCase& c : cases_) {
          auto ids = tokenizer_->Encode(c.text, GetParam().add_special_tokens);
          results[t].push_back(ids.ok() ? *ids : std::vector<int32_t>{-1});
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(results[t], expected) << "thread " << t;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerFixtureTest,
                         ::testing::Values(FixtureSpec{"bytelevel-gpt2", false},
                                           FixtureSpec{"sentencepiece-bpe",
                                                       true}),
                         PrintName);

TEST(TokenizerFixtureSpecialTokens, ByteLevelSkipsSpecialTokensOnRequest) {
  auto tokenizer = Tokenizer::Load(TokenizerFixtureDir("bytelevel-gpt2"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // "<|begin_of_text|>Hi<|end_of_text|> after"
  const std::vector<int32_t> ids = {0, 41, 74, 1, 327, 1983};
  EXPECT_EQ((*tokenizer)->Decode(ids, /*skip_special_tokens=*/true),
            "Hi after");
  EXPECT_TRUE((*tokenizer)->IsSpecial(0));
  EXPECT_TRUE((*tokenizer)->IsSpecial(1));
  EXPECT_FALSE((*tokenizer)->IsSpecial(41));
  EXPECT_EQ((*tokenizer)->TokenToId("<|end_of_text|>"), 1);
  EXPECT_EQ((*tokenizer)->vocab_size(), 2000);
  // No tokenizer_config.json and no post-processor: the well-known names.
  EXPECT_EQ((*tokenizer)->bos_token_id(), 0);
  EXPECT_EQ((*tokenizer)->eos_token_id(), 1);
}

TEST(TokenizerFixtureSpecialTokens, SentencePieceSpecialIds) {
  auto tokenizer = Tokenizer::Load(TokenizerFixtureDir("sentencepiece-bpe"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->bos_token_id(), 1);
  EXPECT_EQ((*tokenizer)->eos_token_id(), 2);
  EXPECT_TRUE((*tokenizer)->IsSpecial(1));
  EXPECT_TRUE((*tokenizer)->IsSpecial(2));
  EXPECT_FALSE((*tokenizer)->IsSpecial(631));
  EXPECT_EQ((*tokenizer)->TokenToId("<s>"), 1);
  EXPECT_EQ((*tokenizer)->TokenToId("no such piece"), std::nullopt);
  auto without_bos =
      (*tokenizer)->Encode("Hello world", /*add_special_tokens=*/false);
  ASSERT_TRUE(without_bos.ok());
  EXPECT_EQ(*without_bos,
            (std::vector<int32_t>{631, 337, 320, 319, 267, 1386, 1387}));
  // Shown, not skipped: "<s>" and then the text with its real leading space.
  const std::vector<int32_t> ids = {1, 631, 337, 320, 319, 267, 1386, 1387, 2};
  EXPECT_EQ((*tokenizer)->Decode(ids, /*skip_special_tokens=*/false),
            "<s> Hello world</s>");
  EXPECT_EQ((*tokenizer)->Decode(ids, /*skip_special_tokens=*/true),
            "Hello world");
  // Ids outside the vocabulary decode to nothing.
  EXPECT_EQ((*tokenizer)->Decode({631, -5, 1 << 20}, true), "H");
}

}  // namespace
}  // namespace loraplex::engine
