// Hand-written tokenizer.json files exercising the supported components
// with HF tokenizers' semantics.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace loraplex::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::AsciiId;
using testing::AsciiTokens;
using testing::BpeTokenizerJson;
using testing::MustCreate;

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Merges in the ["a", "b"] form (a braced json{{"a", "b"}} would be an
// object).
json PairMerges(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json merges = json::array();
  for (const auto& [left, right] : pairs)
    merges.push_back(json::array({left, right}));
  return merges;
}

json Llama3PreTokenizer() {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern", {{"Regex", kLlama3Pattern}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"},
             {"add_prefix_space", false},
             {"trim_offsets", true},
             {"use_regex", false}}}}};
}

std::vector<std::string> PreTokenize(const json& config,
                                     const std::string& text,
                                     bool starts_input = true) {
  auto pre_tokenizer = ParsePreTokenizer(config, "pre_tokenizer");
  EXPECT_TRUE(pre_tokenizer.ok()) << pre_tokenizer.status();
  if (!pre_tokenizer.ok()) return {};
  std::vector<PreToken> pieces = {PreToken{text, starts_input}};
  (*pre_tokenizer)->PreTokenize(&pieces);
  std::vector<std::string> out;
  for (const PreToken& piece : pieces) out.push_back(piece.text);
  return out;
}

// The Llama-3 probe and its split (from Python's `regex` module).
const char kLlama3Text[] =
    "I'M here, DON'T   stop: 1234567 \u0663\u0663\u0663\u0663!\n\n  end  ";
std::vector<std::string> Llama3Words() {
  return {"I",      "'M",    " here", ",",    " DON",
          "'T",     "  ",    " stop", ":",    " ",
          "123",    "456",   "7",     " ",    "\u0663\u0663\u0663",
          "\u0663", "!\n\n", " ",     " end", "  "};
}

std::vector<std::string> ByteLevelWords(const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (const std::string& word : words) out.push_back(ByteLevelEncode(word));
  return out;
}

TEST(HfJsonTest, SplitWithLlama3RegexThenByteLevelWithoutRegex) {
  EXPECT_THAT(PreTokenize(Llama3PreTokenizer(), kLlama3Text),
              ElementsAreArray(ByteLevelWords(Llama3Words())));
  // Spelled out for two words: ' ' is 'Ġ', '\n' is 'Ċ'.
  EXPECT_THAT(PreTokenize(Llama3PreTokenizer(), " stop!\n"),
              ElementsAre("\u0120stop", "!\u010a"));
}

// A Llama-3-like tokenizer whose vocabulary holds each probe word whole
// (ignore_merges), with BOS added by TemplateProcessing.
json Llama3LikeJson() {
  // The distinct words, in order of first appearance.
  std::vector<std::string> tokens;
  for (const std::string& word : ByteLevelWords(Llama3Words())) {
    if (std::find(tokens.begin(), tokens.end(), word) == tokens.end()) {
      tokens.push_back(word);
    }
  }
  json config = BpeTokenizerJson(tokens);
  config["model"]["ignore_merges"] = true;
  const int32_t bos = static_cast<int32_t>(tokens.size());
  config["added_tokens"] =
      json::array({AddedTokenJson(bos, "<|begin_of_text|>", true)});
  config["pre_tokenizer"] = Llama3PreTokenizer();
  config["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"},
         {"add_prefix_space", true},
         {"trim_offsets", false},
         {"use_regex", true}},
        {{"type", "TemplateProcessing"},
         {"single",
          {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
         {"pair", json::array()},
         {"special_tokens",
          {{"<|begin_of_text|>",
            {{"id", "<|begin_of_text|>"},
             {"ids", {bos}},
             {"tokens", {"<|begin_of_text|>"}}}}}}}}}};
  config["decoder"] = {{"type", "ByteLevel"},
                       {"add_prefix_space", true},
                       {"trim_offsets", true},
                       {"use_regex", true}};
  return config;
}

TEST(HfJsonTest, Llama3LikeTokenizerEncodesAddsBosAndDecodes) {
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(Llama3LikeJson());
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> words = {0,  1,  2,  3, 4,  5,  6,  7, 8,  9,
                                      10, 11, 12, 9, 13, 14, 15, 9, 16, 6};
  auto plain = tokenizer->Encode(kLlama3Text, /*add_special_tokens=*/false);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, words);
  auto with_bos = tokenizer->Encode(kLlama3Text, /*add_special_tokens=*/true);
  ASSERT_TRUE(with_bos.ok());
  ASSERT_EQ(with_bos->size(), words.size() + 1);
  EXPECT_EQ(with_bos->front(), 17);
  EXPECT_EQ(tokenizer->bos_token_id(), 17);
  EXPECT_EQ(tokenizer->Decode(*with_bos, /*skip_special_tokens=*/true),
            kLlama3Text);
  EXPECT_EQ(tokenizer->Decode(*with_bos, /*skip_special_tokens=*/false),
            std::string("<|begin_of_text|>") + kLlama3Text);
  EXPECT_EQ(tokenizer->vocab_size(), 18);
}

TEST(HfJsonTest, ByteLevelPreTokenizerWithItsOwnRegexAndPrefixSpace) {
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}};
  EXPECT_THAT(PreTokenize(byte_level, "Hello world's"),
              ElementsAre("\u0120Hello", "\u0120world", "'s"));
  // A piece that already starts with a space gets no second one.
  EXPECT_THAT(PreTokenize(byte_level, " x"), ElementsAre("\u0120x"));
}

TEST(HfJsonTest, DigitsAndMetaspacePreTokenizers) {
  EXPECT_THAT(
      PreTokenize({{"type", "Digits"}, {"individual_digits", true}}, "ab123"),
      ElementsAre("ab", "1", "2", "3"));
  EXPECT_THAT(
      PreTokenize({{"type", "Digits"}, {"individual_digits", false}}, "ab123c"),
      ElementsAre("ab", "123", "c"));
  const json first = {{"type", "Metaspace"},
                      {"replacement", "\u2581"},
                      {"prepend_scheme", "first"},
                      {"split", true}};
  EXPECT_THAT(PreTokenize(first, "Hey you"),
              ElementsAre("\u2581Hey", "\u2581you"));
  EXPECT_THAT(PreTokenize(first, "Hey you", /*starts_input=*/false),
              ElementsAre("Hey", "\u2581you"));
  const json always_unsplit = {{"type", "Metaspace"},
                               {"replacement", "\u2581"},
                               {"prepend_scheme", "always"},
                               {"split", false}};
  EXPECT_THAT(PreTokenize(always_unsplit, "a b", /*starts_input=*/false),
              ElementsAre("\u2581a\u2581b"));
  // Legacy form: add_prefix_space=false means never.
  const json legacy = {{"type", "Metaspace"},
                       {"replacement", "\u2581"},
                       {"add_prefix_space", false}};
  EXPECT_THAT(PreTokenize(legacy, "a b"), ElementsAre("a", "\u2581b"));
}

TEST(HfJsonTest, MergesApplyByRankInBothSerializations) {
  const std::vector<std::string> tokens = {"a", "b", "c", "ab", "bc"};
  for (const json& merges :
       {PairMerges({{"b", "c"}, {"a", "b"}}), json{"b c", "a b"}}) {
    std::unique_ptr<Tokenizer> tokenizer =
        MustCreate(BpeTokenizerJson(tokens, merges));
    ASSERT_NE(tokenizer, nullptr);
    EXPECT_EQ(*tokenizer->Encode("abc", false), (std::vector<int32_t>{0, 4}))
        << merges.dump();
  }
  for (const json& merges :
       {PairMerges({{"a", "b"}, {"b", "c"}}), json{"a b", "b c"}}) {
    std::unique_ptr<Tokenizer> tokenizer =
        MustCreate(BpeTokenizerJson(tokens, merges));
    ASSERT_NE(tokenizer, nullptr);
    EXPECT_EQ(*tokenizer->Encode("abc", false), (std::vector<int32_t>{3, 2}))
        << merges.dump();
  }
}

TEST(HfJsonTest, MergesChainAndPreferTheLeftmostAmongEqualRanks) {
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(BpeTokenizerJson(
      {"a", "b", "aa", "aab", "aaaa"}, json{"a a", "aa b", "aa aa"}));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("aaa", false), (std::vector<int32_t>{2, 0}));
  EXPECT_EQ(*tokenizer->Encode("aab", false), (std::vector<int32_t>{3}));
  // "aa" + "a" has no merge, so the "a b" pair never forms "aab".
  EXPECT_EQ(*tokenizer->Encode("aaab", false), (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(*tokenizer->Encode("aaaa", false), (std::vector<int32_t>{4}));
  // Characters outside the vocabulary, without byte fallback or unk: dropped.
  EXPECT_EQ(*tokenizer->Encode("axa", false), (std::vector<int32_t>{2}));
}

TEST(HfJsonTest, ModelWithoutTypeButWithMergesIsBpe) {
  // As written by tokenizers before 0.9.
  json config = BpeTokenizerJson({"a", "b", "ab"}, json{"a b"});
  config["model"].erase("type");
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(config);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("ab", false), (std::vector<int32_t>{2}));
}

TEST(HfJsonTest, LargeSparseIdsAreAccepted) {
  json config = BpeTokenizerJson({"a"});
  config["model"]["vocab"]["b"] = 2000000000;
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(config);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 2000000001);
  EXPECT_EQ(*tokenizer->Encode("ba", false), (std::vector<int32_t>{2000000000, 0}));
  EXPECT_EQ(tokenizer->Decode({2000000000, 0, 7}, false), "b a");
}

TEST(HfJsonTest, SubwordPrefixAndSuffix) {
  std::unique_ptr<Tokenizer> prefixed = [] {
    json config = BpeTokenizerJson({"a", "##b", "##c", "ab", "abc"},
                                   PairMerges({{"a", "##b"}, {"ab", "##c"}}));
    config["model"]["continuing_subword_prefix"] = "##";
    return MustCreate(config);
  }();
  ASSERT_NE(prefixed, nullptr);
  EXPECT_EQ(*prefixed->Encode("abc", false), (std::vector<int32_t>{4}));
  EXPECT_EQ(*prefixed->Encode("ac", false), (std::vector<int32_t>{0, 2}));

  std::unique_ptr<Tokenizer> suffixed = [] {
    json config = BpeTokenizerJson({"a", "b</w>", "ab</w>", "b"},
                                   PairMerges({{"a", "b</w>"}}));
    config["model"]["end_of_word_suffix"] = "</w>";
    return MustCreate(config);
  }();
  ASSERT_NE(suffixed, nullptr);
  EXPECT_EQ(*suffixed->Encode("ab", false), (std::vector<int32_t>{2}));
  EXPECT_EQ(*suffixed->Encode("ba", false),
            (std::vector<int32_t>{3}));  // "a</w>" unknown.
}

json ByteFallbackJson() {
  std::vector<std::string> tokens = {"<unk>", "a"};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    tokens.push_back(name);
  }
  json config = BpeTokenizerJson(tokens);
  config["model"]["byte_fallback"] = true;
  config["model"]["unk_token"] = "<unk>";
  config["decoder"] = {
      {"type", "Sequence"},
      {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  return config;
}

int32_t ByteId(uint8_t b) { return 2 + b; }

TEST(HfJsonTest, ByteFallbackEncodesUnknownCharactersAsBytes) {
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(ByteFallbackJson());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("a\u00e9", false),
            (std::vector<int32_t>{1, ByteId(0xC3), ByteId(0xA9)}));
  EXPECT_EQ(tokenizer->Decode({1, ByteId(0xC3), ByteId(0xA9), 1}, false),
            "a\u00e9a");
  // HF's ByteFallback replaces every byte of an invalid run.
  EXPECT_EQ(tokenizer->Decode({ByteId(0xE2), ByteId(0x82), 1}, false),
            "\uFFFD\uFFFDa");
  EXPECT_EQ(tokenizer->Decode({ByteId(0xFF)}, false), "\uFFFD");
}

TEST(HfJsonTest, UnknownTokenWithAndWithoutFusing) {
  json config = BpeTokenizerJson({"<unk>", "a"});
  config["model"]["unk_token"] = "<unk>";
  std::unique_ptr<Tokenizer> separate = MustCreate(config);
  ASSERT_NE(separate, nullptr);
  EXPECT_EQ(*separate->Encode("a\u00e9\u00e9a", false),
            (std::vector<int32_t>{1, 0, 0, 1}));
  config["model"]["fuse_unk"] = true;
  std::unique_ptr<Tokenizer> fused = MustCreate(config);
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(*fused->Encode("a\u00e9\u00e9a", false),
            (std::vector<int32_t>{1, 0, 1}));
}

// Llama-2 as transformers converts it: normalizer Prepend + Replace, no
// pre-tokenizer, and the Replace/ByteFallback/Fuse/Strip decoder chain.
json Llama2LikeJson() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "\u2581"};
  for (char c = 'a'; c <= 'z'; ++c) tokens.emplace_back(1, c);
  tokens.push_back("\u2581H");
  json config = BpeTokenizerJson(tokens, PairMerges({{"\u2581", "H"}}));
  tokens.push_back("H");  // Id 31, after the merge's result (30).
  config["model"]["vocab"]["H"] = 31;
  config["model"]["unk_token"] = "<unk>";
  config["model"]["byte_fallback"] = true;
  config["added_tokens"] = {AddedTokenJson(0, "<unk>", true),
                            AddedTokenJson(1, "<s>", true),
                            AddedTokenJson(2, "</s>", true)};
  config["normalizer"] = {{"type", "Sequence"},
                          {"normalizers",
                           {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                            {{"type", "Replace"},
                             {"pattern", {{"String", " "}}},
                             {"content", "\u2581"}}}}};
  config["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens",
       {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  config["decoder"] = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Replace"},
         {"pattern", {{"String", "\u2581"}}},
         {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  return config;
}

int32_t Letter(char c) { return 4 + (c - 'a'); }

TEST(HfJsonTest, Llama2StyleNormalizerAndDecoderChain) {
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(Llama2LikeJson());
  ASSERT_NE(tokenizer, nullptr);
  // "Hi yo" -> "▁Hi▁yo"; "▁H" merges.
  const std::vector<int32_t> expected = {1, 30,          Letter('i'),
                                         3, Letter('y'), Letter('o')};
  EXPECT_EQ(*tokenizer->Encode("Hi yo", true), expected);
  EXPECT_EQ(tokenizer->Decode(expected, /*skip_special_tokens=*/true), "Hi yo");
  EXPECT_EQ(tokenizer->Decode(expected, /*skip_special_tokens=*/false),
            "<s> Hi yo");
  // Prepend applies to each piece between added tokens, as in HF.
  EXPECT_EQ(*tokenizer->Encode("H</s>H", false),
            (std::vector<int32_t>{30, 2, 30}));
  EXPECT_EQ(tokenizer->bos_token_id(), 1);
  EXPECT_EQ(tokenizer->eos_token_id(), 2);
}

TEST(HfJsonTest, NfcNormalizerAndNormalizedAddedTokens) {
  std::vector<std::string> tokens = AsciiTokens();
  tokens.push_back("\u00e9");  // Id 95.
  json config = BpeTokenizerJson(tokens);
  config["normalizer"] = {{"type", "NFC"}};
  // A non-special token matched by its normalized content ("café").
  config["added_tokens"] =
      json::array({AddedTokenJson(96, "cafe\u0301", false)});
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(config);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("e\u0301", false), (std::vector<int32_t>{95}));
  EXPECT_EQ(*tokenizer->Encode("caf\u00e9!", false),
            (std::vector<int32_t>{96, AsciiId('!')}));
  EXPECT_EQ(*tokenizer->Encode("cafe\u0301", false),
            (std::vector<int32_t>{96}));
  // No decoder: tokens are joined with spaces, as HF does.
  EXPECT_EQ(tokenizer->Decode({AsciiId('a'), 95, AsciiId('b')}, false),
            "a \u00e9 b");
  // Not special: kept when skipping special tokens.
  EXPECT_EQ(tokenizer->Decode({96}, true), "cafe\u0301");
}

TEST(HfJsonTest, TemplateWithSuffixAndMetaspaceDecoder) {
  json config = BpeTokenizerJson({"\u2581a", "\u2581b", "<s>", "</s>"});
  config["model"]["ignore_merges"] = true;
  config["added_tokens"] = {AddedTokenJson(2, "<s>", true),
                            AddedTokenJson(3, "</s>", true)};
  config["pre_tokenizer"] = {{"type", "Metaspace"},
                             {"replacement", "\u2581"},
                             {"prepend_scheme", "always"},
                             {"split", true}};
  config["post_processor"] = {{"type", "TemplateProcessing"},
                              {"single",
                               {{{"SpecialToken", {{"id", "<s>"}}}},
                                {{"Sequence", {{"id", "A"}}}},
                                {{"SpecialToken", {{"id", "</s>"}}}}}},
                              {"special_tokens",
                               {{"<s>", {{"id", "<s>"}, {"ids", {2}}}},
                                {"</s>", {{"id", "</s>"}, {"ids", {3}}}}}}};
  config["decoder"] = {{"type", "Metaspace"},
                       {"replacement", "\u2581"},
                       {"prepend_scheme", "always"}};
  std::unique_ptr<Tokenizer> tokenizer = MustCreate(config);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->Encode("a b", true),
            (std::vector<int32_t>{2, 0, 1, 3}));
  EXPECT_EQ(tokenizer->Decode({2, 0, 1, 3}, true), "a b");
  // The first token of the list keeps no replacement character.
  EXPECT_EQ(tokenizer->Decode({1, 0}, true), "b a");
  EXPECT_EQ(tokenizer->bos_token_id(), 2);
  EXPECT_EQ(tokenizer->eos_token_id(), 3);
}

TEST(HfJsonTest, RefusesTextThatIsNotUtf8) {
  std::unique_ptr<Tokenizer> tokenizer =
      MustCreate(BpeTokenizerJson(AsciiTokens()));
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("abc\xFF", false);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ids.status().message(), ::testing::HasSubstr("at byte 3"));
  EXPECT_EQ(*tokenizer->Encode("", true), std::vector<int32_t>{});
}

}  // namespace
}  // namespace loraplex::engine
