// Tokenizer::Load on model directories: which file wins, what
// tokenizer_config.json changes, and the errors.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace loraplex::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::AsciiId;
using testing::AsciiTokens;
using testing::BpeTokenizerJson;
using testing::TokenizerFixtureDir;

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("tokenizer_load_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& content) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << content;
  }
  void CopyFixture(const std::string& fixture, const std::string& name) {
    fs::copy_file(fs::path(TokenizerFixtureDir(fixture)) / name, dir_ / name);
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> Load() {
    return Tokenizer::Load(dir_.string());
  }

  fs::path dir_;
};

// An ASCII tokenizer.json with <s> = 95 and </s> = 96.
json AsciiJsonWithBosEos() {
  json config = BpeTokenizerJson(AsciiTokens());
  config["added_tokens"] = {AddedTokenJson(95, "<s>", true),
                            AddedTokenJson(96, "</s>", true)};
  return config;
}

TEST_F(LoadTest, EmptyDirectoryIsNotFound) {
  auto tokenizer = Load();
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(tokenizer.status().message(),
              HasSubstr("no tokenizer.json or tokenizer.model"));
  // A config alone is not a tokenizer.
  Write("tokenizer_config.json", "{}");
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LoadTest, MissingSentencePieceFileIsNotFound) {
  auto tokenizer =
      Tokenizer::FromSentencePieceFile((dir_ / "tokenizer.model").string());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LoadTest, SentencePieceModelAlone) {
  CopyFixture("sentencepiece-bpe", "tokenizer.model");
  auto tokenizer = Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(*(*tokenizer)->Encode("a", true), (std::vector<int32_t>{1, 325}));
}

TEST_F(LoadTest, UnsupportedJsonFallsBackToSentencePiece) {
  json config = AsciiJsonWithBosEos();
  config["model"]["type"] = "Unigram";
  Write("tokenizer.json", config.dump());
  CopyFixture("sentencepiece-bpe", "tokenizer.model");
  auto tokenizer = Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(*(*tokenizer)->Encode("a", true), (std::vector<int32_t>{1, 325}));
}

TEST_F(LoadTest, UnsupportedJsonWithoutModelFileIsAnError) {
  json config = AsciiJsonWithBosEos();
  config["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  Write("tokenizer.json", config.dump());
  auto tokenizer = Load();
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("BertPreTokenizer"));
}

TEST_F(LoadTest, BothBrokenReportsBoth) {
  Write("tokenizer.json", "{not json");
  Write("tokenizer.model", "not a model");
  auto tokenizer = Load();
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(tokenizer.status().message(),
              HasSubstr("cannot load SentencePiece model"));
}

TEST_F(LoadTest, JsonIsPreferredOverSentencePiece) {
  Write("tokenizer.json", AsciiJsonWithBosEos().dump());
  CopyFixture("sentencepiece-bpe", "tokenizer.model");
  auto tokenizer = Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(*(*tokenizer)->Encode("a", true),
            (std::vector<int32_t>{AsciiId('a')}));
  EXPECT_EQ((*tokenizer)->bos_token_id(), 95);
  EXPECT_EQ((*tokenizer)->eos_token_id(), 96);
}

TEST_F(LoadTest, ConfigFlagsDecideTheSpecialTokensOfJson) {
  Write("tokenizer.json", AsciiJsonWithBosEos().dump());
  Write("tokenizer_config.json",
        R"({"add_bos_token": true, "add_eos_token": true, "bos_token": "<s>",
            "eos_token": {"__type": "AddedToken", "content": "</s>"}})");
  auto tokenizer = Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(*(*tokenizer)->Encode("a", true),
            (std::vector<int32_t>{95, AsciiId('a'), 96}));
  EXPECT_EQ(*(*tokenizer)->Encode("a", false),
            (std::vector<int32_t>{AsciiId('a')}));
}

TEST_F(LoadTest, ConfigNamesTheEosToken) {
  json config = AsciiJsonWithBosEos();
  config["added_tokens"].push_back(AddedTokenJson(97, "<|eot|>", true));
  Write("tokenizer.json", config.dump());
  Write("tokenizer_config.json",
        R"({"eos_token": "<|eot|>", "bos_token": null})");
  auto tokenizer = Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->eos_token_id(), 97);
  EXPECT_EQ((*tokenizer)->bos_token_id(), 95);  // Well-known name.
}

TEST_F(LoadTest, ConfigFlagsForSentencePiece) {
  CopyFixture("sentencepiece-bpe", "tokenizer.model");
  Write("tokenizer_config.json",
        R"({"add_bos_token": false, "add_eos_token": true})");
  auto tokenizer = Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(*(*tokenizer)->Encode("a", true), (std::vector<int32_t>{325, 2}));
  EXPECT_EQ(*(*tokenizer)->Encode("a", false), (std::vector<int32_t>{325}));
}

TEST_F(LoadTest, ConfigAskingForAMissingTokenIsAnError) {
  Write("tokenizer.json", BpeTokenizerJson(AsciiTokens()).dump());
  Write("tokenizer_config.json", R"({"add_bos_token": true})");
  auto tokenizer = Load();
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("BOS"));
}

TEST_F(LoadTest, OversizedOrDeeplyNestedFilesAreRefused) {
  // Note [Bounded JSON]: tokenizer_config.json at most 4 MiB, both files at
  // most 64 levels deep.
  Write("tokenizer.json", AsciiJsonWithBosEos().dump());
  Write("tokenizer_config.json",
        R"({"x": ")" + std::string(4 << 20, 'x') + R"("})");
  auto big = Load();
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(),
              HasSubstr("larger than the limit of 4194304 bytes"));
  Write("tokenizer_config.json", std::string(100000, '['));
  auto deep_config = Load();
  ASSERT_FALSE(deep_config.ok());
  EXPECT_THAT(deep_config.status().message(),
              HasSubstr("tokenizer_config.json: nests arrays and objects "
                        "deeper than the limit of 64 levels"));
  Write("tokenizer_config.json", "{}");
  Write("tokenizer.json", R"({"model": )" + std::string(100000, '['));
  auto deep = Load();
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(deep.status().message(),
              HasSubstr("tokenizer.json: nests arrays and objects deeper "
                        "than the limit of 64 levels"));
}

TEST_F(LoadTest, MalformedConfigIsAnError) {
  Write("tokenizer.json", AsciiJsonWithBosEos().dump());
  Write("tokenizer_config.json", R"({"add_bos_token": "yes"})");
  auto bad_type = Load();
  ASSERT_FALSE(bad_type.ok());
  EXPECT_THAT(
      bad_type.status().message(),
      HasSubstr("tokenizer_config.json.add_bos_token must be true or false"));
  Write("tokenizer_config.json", "[1, 2");
  auto bad_json = Load();
  ASSERT_FALSE(bad_json.ok());
  EXPECT_THAT(bad_json.status().message(),
              HasSubstr("tokenizer_config.json: not valid JSON"));
  Write("tokenizer_config.json", R"({"eos_token": 7})");
  auto bad_token = Load();
  ASSERT_FALSE(bad_token.ok());
  EXPECT_THAT(bad_token.status().message(),
              HasSubstr("tokenizer_config.json.eos_token must be"));
}

}  // namespace
}  // namespace loraplex::engine
