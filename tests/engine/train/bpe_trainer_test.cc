// The byte-level BPE trainer: merge order and tie-breaking, words kept
// apart as the GPT-2 pre-tokenizer splits them, the files it writes, and
// that Loraplex's own tokenizer reads them back and round-trips text.
#include "engine/train/bpe_trainer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::ReadFile;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

BpeVocabulary TrainOn(std::string_view text, int32_t vocab_size,
                      int64_t min_frequency) {
  BpeTrainerOptions options;
  options.vocab_size = vocab_size;
  options.min_frequency = min_frequency;
  auto trainer = BpeTrainer::Create(options);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_TRUE((*trainer)->AddText(text).ok());
  auto vocab = (*trainer)->Train();
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  return *std::move(vocab);
}

TEST(BpeTrainerTest, MergesMostFrequentPairsAndBreaksTiesBySmallestIds) {
  // Words: "ab" x1, " ab" x2, " cd" x1. (a,b) occurs 3 times, then (Ġ,ab)
  // twice; (Ġ,c) and (c,d) tie at 1 and 'c' sorts before 'Ġ'.
  BpeVocabulary vocab = TrainOn("ab ab ab cd", 2 + 256 + 3, 1);
  using Merge = std::pair<std::string, std::string>;
  EXPECT_THAT(
      vocab.merges,
      ElementsAre(Merge{"a", "b"}, Merge{"\xC4\xA0", "ab"}, Merge{"c", "d"}));
  ASSERT_EQ(vocab.tokens.size(), 261u);
  EXPECT_EQ(vocab.tokens[0], "<|begin_of_text|>");
  EXPECT_EQ(vocab.tokens[1], "<|end_of_text|>");
  EXPECT_EQ(vocab.tokens[2], "!");  // The alphabet, sorted by character.
  EXPECT_EQ(vocab.tokens[258], "ab");
  EXPECT_EQ(vocab.tokens[260], "cd");
}

TEST(BpeTrainerTest, StopsWhenNoPairIsFrequentEnough) {
  BpeVocabulary vocab = TrainOn("ab ab ab cd", 4096, 2);
  EXPECT_EQ(vocab.merges.size(), 2u);  // (a,b) x3 and (Ġ,ab) x2 only.
  EXPECT_EQ(vocab.tokens.size(), 260u);
}

TEST(BpeTrainerTest, OverlappingPairsMergeLeftToRight) {
  // "aaa" holds (a,a) twice but merges once: "aa" + "a".
  BpeVocabulary vocab = TrainOn("aaa aaa", 2 + 256 + 2, 2);
  using Merge = std::pair<std::string, std::string>;
  EXPECT_THAT(vocab.merges, ElementsAre(Merge{"a", "a"}, Merge{"aa", "a"}));
}

TEST(BpeTrainerTest, NeverMergesAcrossWords) {
  // Words: "x", " y" x3, " x" x2 (a space starts a word, never ends one).
  BpeVocabulary vocab = TrainOn("x y x y x y", 4096, 2);
  using Merge = std::pair<std::string, std::string>;
  EXPECT_THAT(vocab.merges,
              ElementsAre(Merge{"\xC4\xA0", "y"}, Merge{"\xC4\xA0", "x"}));
  // Python-style indentation: "\n" stands alone, the indent gives its last
  // space to the keyword (" return").
  BpeVocabulary code = TrainOn("f:\n    return\nf:\n    return\n", 4096, 2);
  for (const auto& [left, right] : code.merges) {
    EXPECT_NE(left + right, "\xC4\x8A\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0");
  }
  EXPECT_NE(std::find(code.tokens.begin(), code.tokens.end(), "\xC4\xA0return"),
            code.tokens.end());
}

TEST(BpeTrainerTest, RefusesBadOptionsAndText) {
  BpeTrainerOptions options;
  options.vocab_size = 100;
  auto trainer = BpeTrainer::Create(options);
  ASSERT_TRUE(trainer.ok());
  auto vocab = (*trainer)->Train();
  EXPECT_EQ(vocab.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(vocab.status()), HasSubstr("too small"));

  absl::Status added = (*trainer)->AddText("ok \xFE");
  EXPECT_EQ(added.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(added), HasSubstr("not valid UTF-8 at byte offset 3"));

  options.eos_token = options.bos_token;
  auto same_specials = BpeTrainer::Create(options);
  EXPECT_EQ(same_specials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(same_specials.status()), HasSubstr("distinct"));
}

constexpr char kCorpus[] =
    "In the beginning was the word, and the word was with the tokenizer.\n"
    "def main(argv):\n    return len(argv) + 42\n\n"
    "The quick brown fox jumps over the lazy dog. The dog sleeps.\n"
    "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
    "e, na\xC3\xAFve r\xC3\xA9sum\xC3\xA9!\n";

std::string TrainTokenizerInto(const TempDir& dir, const std::string& name) {
  const std::string corpus = dir.Join(name + ".txt");
  std::string text;
  for (int i = 0; i < 20; ++i) text += kCorpus;
  WriteFile(corpus, text);
  TokenizerTrainOptions options;
  options.corpus_files = {corpus};
  options.vocab_size = 300;
  options.out_dir = dir.Join(name);
  ProgressOptions quiet;
  quiet.quiet = true;
  auto report = TrainTokenizer(options, quiet);
  EXPECT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->corpus_bytes, static_cast<int64_t>(text.size()));
  return options.out_dir;
}

TEST(TokenizerFilesTest, LoadWithTheEngineTokenizerAndRoundTripText) {
  TempDir dir;
  const std::string out = TrainTokenizerInto(dir, "tok");
  auto tokenizer = Tokenizer::Load(out);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->bos_token_id(), 0);
  EXPECT_EQ((*tokenizer)->eos_token_id(), 1);
  for (const std::string& text :
       {std::string(kCorpus), std::string("unseen words: zebra quixotic 12345"),
        std::string("tabs\tand\r\nCRLF  and trailing  "),
        std::string("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80")}) {
    auto ids = (*tokenizer)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ((*tokenizer)->Decode(*ids, /*skip_special_tokens=*/true), text);
    auto again = (*tokenizer)->Encode(text, /*add_special_tokens=*/false);
    EXPECT_EQ(*again, *ids);
  }
  // The post-processor prepends BOS; a frequent word is one token.
  auto with_bos =
      (*tokenizer)->Encode(" the word", /*add_special_tokens=*/true);
  ASSERT_TRUE(with_bos.ok());
  ASSERT_EQ(with_bos->size(), 3u);
  EXPECT_EQ((*with_bos)[0], 0);
  EXPECT_EQ((*tokenizer)->TokenToId("\xC4\xA0the"), (*with_bos)[1]);
}

TEST(TokenizerFilesTest, TrainingIsDeterministicAndWritesHfFields) {
  TempDir dir;
  const std::string a = TrainTokenizerInto(dir, "a");
  const std::string b = TrainTokenizerInto(dir, "b");
  const std::string json = ReadFile(a + "/tokenizer.json");
  EXPECT_EQ(json, ReadFile(b + "/tokenizer.json"));
  nlohmann::json parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["model"]["type"], "BPE");
  EXPECT_EQ(parsed["model"]["vocab"].size(), 300u);
  EXPECT_TRUE(parsed["model"]["merges"][0].is_array());
  EXPECT_EQ(parsed["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(parsed["pre_tokenizer"]["add_prefix_space"], false);
  EXPECT_EQ(parsed["pre_tokenizer"]["use_regex"], true);
  EXPECT_EQ(parsed["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(parsed["post_processor"]["type"], "TemplateProcessing");
  EXPECT_EQ(parsed["added_tokens"][1]["content"], "<|end_of_text|>");
  EXPECT_EQ(parsed["added_tokens"][1]["special"], true);
  nlohmann::json config =
      nlohmann::json::parse(ReadFile(a + "/tokenizer_config.json"));
  EXPECT_EQ(config["bos_token"], "<|begin_of_text|>");
  EXPECT_EQ(config["eos_token"], "<|end_of_text|>");
  EXPECT_EQ(config["add_bos_token"], true);
}

TEST(TokenizerFilesTest, TrainTokenizerReportsMissingAndBadFiles) {
  TempDir dir;
  ProgressOptions quiet;
  quiet.quiet = true;
  TokenizerTrainOptions options;
  options.out_dir = dir.Join("out");
  auto none = TrainTokenizer(options, quiet);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);

  options.corpus_files = {dir.Join("missing.txt")};
  auto missing = TrainTokenizer(options, quiet);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(missing.status()), HasSubstr("missing.txt"));

  WriteFile(dir.Join("latin1.txt"), "caf\xE9\n");
  options.corpus_files = {dir.Join("latin1.txt")};
  auto latin1 = TrainTokenizer(options, quiet);
  EXPECT_EQ(latin1.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(latin1.status()), HasSubstr("latin1.txt"));
}

}  // namespace
}  // namespace loraplex::engine
