// WriteHfTokenizerFiles (declared in bpe_trainer.h): the JSON layout that
// HF tokenizers 0.20+ writes for a byte-level BPE model.
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/train/bpe_trainer.h"
#include "engine/train/file_util.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

using Json = nlohmann::ordered_json;

Json AddedToken(int32_t id, const std::string& content) {
  return Json{{"id", id},        {"content", content}, {"single_word", false},
              {"lstrip", false}, {"rstrip", false},    {"normalized", false},
              {"special", true}};
}

Json ByteLevelStep(bool add_prefix_space) {
  return Json{{"type", "ByteLevel"},
              {"add_prefix_space", add_prefix_space},
              {"trim_offsets", true},
              {"use_regex", true}};
}

// Prepends BOS to every sequence (and to each of a pair), like Llama 3.
Json BosTemplate(const BpeVocabulary& vocab) {
  auto special = [&](int type_id) {
    return Json{
        {"SpecialToken", {{"id", vocab.bos_token}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) {
    return Json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  Json special_tokens = Json::object();
  special_tokens[vocab.bos_token] = {{"id", vocab.bos_token},
                                     {"ids", {vocab.bos_id}},
                                     {"tokens", {vocab.bos_token}}};
  return Json{
      {"type", "TemplateProcessing"},
      {"single", {special(0), sequence("A", 0)}},
      {"pair", {special(0), sequence("A", 0), special(1), sequence("B", 1)}},
      {"special_tokens", special_tokens}};
}

std::string TokenizerJson(const BpeVocabulary& vocab) {
  Json token_ids = Json::object();
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    token_ids[vocab.tokens[id]] = id;
  }
  Json merges = Json::array();
  for (const auto& [left, right] : vocab.merges)
    merges.push_back({left, right});
  Json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", std::move(token_ids)},
                {"merges", std::move(merges)}};
  Json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {AddedToken(vocab.bos_id, vocab.bos_token),
        AddedToken(vocab.eos_id, vocab.eos_token)}},
      {"normalizer", nullptr},
      {"pre_tokenizer", ByteLevelStep(/*add_prefix_space=*/false)},
      {"post_processor", BosTemplate(vocab)},
      {"decoder", ByteLevelStep(/*add_prefix_space=*/true)},
      {"model", std::move(model)}};
  return tokenizer.dump(2);
}

std::string TokenizerConfigJson(const BpeVocabulary& vocab) {
  Json config = {{"add_bos_token", true},
                 {"add_eos_token", false},
                 {"bos_token", vocab.bos_token},
                 {"eos_token", vocab.eos_token},
                 {"clean_up_tokenization_spaces", false},
                 {"model_max_length", 1000000000},
                 {"tokenizer_class", "PreTrainedTokenizerFast"}};
  return config.dump(2);
}

}  // namespace

absl::Status WriteHfTokenizerFiles(const BpeVocabulary& vocabulary,
                                   const std::string& dir) {
  RETURN_IF_ERROR(EnsureDirectory(dir));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(dir, "/tokenizer.json"),
                                      TokenizerJson(vocabulary) + "\n"));
  return WriteFileAtomically(absl::StrCat(dir, "/tokenizer_config.json"),
                             TokenizerConfigJson(vocabulary) + "\n");
}

}  // namespace loraplex::engine
