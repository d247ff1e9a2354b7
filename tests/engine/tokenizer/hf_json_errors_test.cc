// tokenizer.json files the tokenizer must refuse, with a message that names
// the problem.
#include <functional>
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

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::BpeTokenizerJson;

json ValidJson() { return BpeTokenizerJson({"a", "b", "ab"}, json{"a b"}); }

void ExpectRefused(const std::string& text, const std::string& message) {
  auto tokenizer = Tokenizer::FromHfJson(text);
  ASSERT_FALSE(tokenizer.ok()) << "accepted: " << text.substr(0, 300);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr(message));
}

struct Edit {
  std::string name;
  std::function<void(json&)> apply;
  std::string message;
};

class HfJsonErrorTest : public ::testing::TestWithParam<Edit> {};

TEST_P(HfJsonErrorTest, IsRefusedWithMessage) {
  json config = ValidJson();
  GetParam().apply(config);
  ExpectRefused(config.dump(), GetParam().message);
}

json TemplateWith(json single) {
  return {{"type", "TemplateProcessing"},
          {"single", std::move(single)},
          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {0}}}}}}};
}

const json kSpecialS = {{"SpecialToken", {{"id", "<s>"}}}};
const json kSequenceA = {{"Sequence", {{"id", "A"}}}};

INSTANTIATE_TEST_SUITE_P(
    Edits, HfJsonErrorTest,
    ::testing::Values(
        // Unsupported components, named.
        Edit{"WordPiece", [](json& j) { j["model"]["type"] = "WordPiece"; },
             "model type \"WordPiece\" is not supported"},
        Edit{"Unigram", [](json& j) { j["model"]["type"] = "Unigram"; },
             "\"Unigram\""},
        Edit{"BertPreTokenizer",
             [](json& j) {
               j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
             },
             "pre_tokenizer type \"BertPreTokenizer\" is not supported"},
        Edit{"NestedPreTokenizer",
             [](json& j) {
               j["pre_tokenizer"] = {
                   {"type", "Sequence"},
                   {"pretokenizers", {{{"type", "Whitespace"}}}}};
             },
             "pre_tokenizer.pretokenizers[0] type \"Whitespace\""},
        Edit{"Nfkc",
             [](json& j) {
               j["normalizer"] = {{"type", "NFKC"}};
             },
             "normalizer type \"NFKC\" is not supported"},
        Edit{"Lowercase",
             [](json& j) {
               j["normalizer"] = {{"type", "Sequence"},
                                  {"normalizers", {{{"type", "Lowercase"}}}}};
             },
             "\"Lowercase\""},
        Edit{"WordPieceDecoder",
             [](json& j) {
               j["decoder"] = {{"type", "WordPiece"}};
             },
             "decoder type \"WordPiece\" is not supported"},
        Edit{"RobertaProcessing",
             [](json& j) {
               j["post_processor"] = {{"type", "RobertaProcessing"}};
             },
             "post_processor type \"RobertaProcessing\" is not supported"},
        Edit{"Dropout", [](json& j) { j["model"]["dropout"] = 0.1; },
             "model.dropout"},
        // Missing or mistyped fields.
        Edit{"NoModel", [](json& j) { j.erase("model"); }, "model is missing"},
        Edit{"NoModelType",
             [](json& j) {
               j["model"].erase("type");
               j["model"].erase("merges");
             },
             "model.type is missing"},
        Edit{"NoVocab", [](json& j) { j["model"].erase("vocab"); },
             "model.vocab is missing"},
        Edit{"VocabList", [](json& j) { j["model"]["vocab"] = json::array(); },
             "model.vocab must be an object"},
        Edit{"NegativeId", [](json& j) { j["model"]["vocab"]["a"] = -1; },
             "model.vocab[\"a\"] must be a non-negative"},
        Edit{"NoMerges", [](json& j) { j["model"].erase("merges"); },
             "model.merges is missing"},
        Edit{"BadMerge", [](json& j) { j["model"]["merges"] = {"a b c"}; },
             "model.merges[0] must be"},
        Edit{"MergeOutsideVocab",
             [](json& j) { j["model"]["merges"] = {"b a"}; },
             "model.merges[0] (\"b\", \"a\") uses a token that is not in the "
             "vocabulary"},
        Edit{"UnkOutsideVocab",
             [](json& j) { j["model"]["unk_token"] = "<unk>"; },
             "model.unk_token \"<unk>\" is not in the vocabulary"},
        Edit{"BoolAsString",
             [](json& j) { j["model"]["byte_fallback"] = "yes"; },
             "model.byte_fallback must be true or false"},
        Edit{"NoPreTokenizerType",
             [](json& j) { j["pre_tokenizer"] = json::object(); },
             "pre_tokenizer.type is missing"},
        Edit{"SplitWithoutPattern",
             [](json& j) {
               j["pre_tokenizer"] = {{"type", "Split"},
                                     {"behavior", "Isolated"}};
             },
             "pre_tokenizer.pattern is missing"},
        Edit{"SplitBadBehavior",
             [](json& j) {
               j["pre_tokenizer"] = {{"type", "Split"},
                                     {"pattern", {{"String", " "}}},
                                     {"behavior", "Sideways"}};
             },
             "unknown split behavior \"Sideways\""},
        Edit{"SplitLookBehind",
             [](json& j) {
               j["pre_tokenizer"] = {{"type", "Split"},
                                     {"pattern", {{"Regex", "(?<=a)b"}}},
                                     {"behavior", "Isolated"}};
             },
             "look-around"},
        Edit{"SplitPatternNeither",
             [](json& j) {
               j["pre_tokenizer"] = {{"type", "Split"},
                                     {"pattern", {{"Glob", "*"}}},
                                     {"behavior", "Isolated"}};
             },
             "pre_tokenizer.pattern must be {\"String\": ...} or {\"Regex\": "
             "...}"},
        Edit{"MetaspaceLongReplacement",
             [](json& j) {
               j["pre_tokenizer"] = {{"type", "Metaspace"},
                                     {"replacement", "__"}};
             },
             "replacement must be one character"},
        Edit{"TemplateWithoutA",
             [](json& j) {
               // json::array: a one-element brace list is a copy under clang.
               j["post_processor"] = TemplateWith(json::array({kSpecialS}));
             },
             "must contain the sequence $A exactly once"},
        Edit{"TemplateWithB",
             [](json& j) {
               j["post_processor"] =
                   TemplateWith({kSpecialS, {{"Sequence", {{"id", "B"}}}}});
             },
             "sequence \"B\" in a single-sequence template"},
        Edit{"TemplateUnknownSpecial",
             [](json& j) {
               j["post_processor"] = TemplateWith(
                   {{{"SpecialToken", {{"id", "</s>"}}}}, kSequenceA});
             },
             "special_tokens has no entry for \"</s>\""},
        Edit{"AddedTokenWithoutContent",
             [](json& j) {
               j["added_tokens"] = {{{"id", 5}}};
             },
             "added_tokens[0].content is missing"},
        Edit{"AddedTokenDuplicateId",
             [](json& j) {
               j["added_tokens"] = {AddedTokenJson(5, "<a>", true),
                                    AddedTokenJson(5, "<b>", true)};
             },
             "added_tokens[1]: id 5 is used twice"},
        Edit{"NotAnObject", [](json& j) { j = json::array(); },
             "tokenizer.json must be a JSON object"}),
    [](const ::testing::TestParamInfo<Edit>& param_info) {
      return param_info.param.name;
    });

TEST(HfJsonErrorTest, MalformedJson) {
  ExpectRefused("{\"model\": {", "tokenizer.json: not valid JSON");
  ExpectRefused("", "tokenizer.json: not valid JSON");
}

}  // namespace
}  // namespace loraplex::engine
