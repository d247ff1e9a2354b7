#include "engine/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

constexpr absl::string_view kFile = "tokenizer.json";

// The component `key` of tokenizer.json, or null when missing or null.
const nlohmann::json* Component(const nlohmann::json& json,
                                absl::string_view key) {
  return json_fields::Optional(json, key);
}

std::optional<int32_t> ResolveToken(const HfTokenizer& tokenizer,
                                    const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return tokenizer.TokenToId(*text);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Create(
    std::string_view tokenizer_json, const TokenizerConfig& config) {
  ASSIGN_OR_RETURN(
      nlohmann::json json,
      json_fields::Parse(tokenizer_json, kFile, kTokenizerJsonLimits));
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kFile, " must be a JSON object"));
  }
  std::unique_ptr<HfTokenizer> tokenizer(new HfTokenizer());
  RETURN_IF_ERROR(tokenizer->ParseComponents(json));
  RETURN_IF_ERROR(tokenizer->ApplyConfig(config));
  return tokenizer;
}

absl::Status HfTokenizer::ParseComponents(const nlohmann::json& json) {
  ASSIGN_OR_RETURN(const nlohmann::json* model,
                   json_fields::Required(json, "model", ""));
  ASSIGN_OR_RETURN(model_, BpeModel::FromJson(*model, "model"));
  const nlohmann::json* added = Component(json, "added_tokens");
  ASSIGN_OR_RETURN(added_vocabulary_,
                   AddedVocabulary::FromJson(added ? *added : nlohmann::json(),
                                             "added_tokens"));
  if (const nlohmann::json* normalizer = Component(json, "normalizer")) {
    ASSIGN_OR_RETURN(normalizer_, ParseNormalizer(*normalizer, "normalizer"));
    // HF matches normalized added tokens by their normalized content.
    added_vocabulary_.NormalizeContents([&](const std::string& content) {
      return normalizer_->Normalize(content);
    });
  }
  if (const nlohmann::json* pre_tokenizer = Component(json, "pre_tokenizer")) {
    ASSIGN_OR_RETURN(pre_tokenizer_,
                     ParsePreTokenizer(*pre_tokenizer, "pre_tokenizer"));
  }
  if (const nlohmann::json* post_processor =
          Component(json, "post_processor")) {
    ASSIGN_OR_RETURN(special_frame_,
                     ParsePostProcessor(*post_processor, "post_processor"));
  }
  if (const nlohmann::json* decoder = Component(json, "decoder")) {
    ASSIGN_OR_RETURN(decoder_, ParseDecoder(*decoder, "decoder"));
  }
  vocab_size_ = model_->id_limit();
  for (const AddedToken& token : added_vocabulary_.tokens()) {
    vocab_size_ = std::max(vocab_size_, token.id + 1);
  }
  return absl::OkStatus();
}

std::optional<int32_t> HfTokenizer::FindSpecialByName(
    const std::vector<std::string_view>& names) const {
  for (std::string_view name : names) {
    const std::optional<int32_t> id = added_vocabulary_.FindByContent(name);
    if (id && IsSpecial(*id)) return id;
  }
  return std::nullopt;
}

absl::Status HfTokenizer::ApplyConfig(const TokenizerConfig& config) {
  bos_id_ = ResolveToken(*this, config.bos_token);
  if (!bos_id_ && !special_frame_.prefix.empty())
    bos_id_ = special_frame_.prefix.front();
  if (!bos_id_) {
    bos_id_ = FindSpecialByName(
        {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"});
  }
  eos_id_ = ResolveToken(*this, config.eos_token);
  if (!eos_id_) {
    eos_id_ = FindSpecialByName(
        {"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "<|im_end|>"});
  }
  if (!config.add_bos_token && !config.add_eos_token) return absl::OkStatus();
  // transformers' Llama-style fast tokenizers rebuild the template from
  // these flags; an unset one keeps what tokenizer.json did.
  const bool add_bos =
      config.add_bos_token.value_or(!special_frame_.prefix.empty());
  const bool add_eos =
      config.add_eos_token.value_or(!special_frame_.suffix.empty());
  if ((add_bos && !bos_id_) || (add_eos && !eos_id_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer_config.json asks for ",
                     add_bos && !bos_id_ ? "a BOS" : "an EOS",
                     " token, but the tokenizer has none"));
  }
  special_frame_ = SpecialTokenFrame();
  if (add_bos) special_frame_.prefix.push_back(*bos_id_);
  if (add_eos) special_frame_.suffix.push_back(*eos_id_);
  return absl::OkStatus();
}

void HfTokenizer::EncodeSegment(std::string_view text, bool starts_input,
                                std::vector<int32_t>* ids) const {
  const std::string normalized =
      normalizer_ != nullptr ? normalizer_->Normalize(text) : std::string(text);
  size_t offset = 0;
  for (TextSegment& segment : added_vocabulary_.Split(
           normalized, AddedVocabulary::Pass::kNormalized)) {
    const size_t segment_offset = offset;
    offset += segment.text.size();
    if (segment.added_id) {
      ids->push_back(*segment.added_id);
      continue;
    }
    std::vector<PreToken> pieces;
    pieces.push_back(
        PreToken{std::move(segment.text), starts_input && segment_offset == 0});
    if (pre_tokenizer_ != nullptr) pre_tokenizer_->PreTokenize(&pieces);
    for (const PreToken& piece : pieces) model_->Tokenize(piece.text, ids);
  }
}

absl::StatusOr<std::vector<int32_t>> HfTokenizer::Encode(
    std::string_view text, bool add_special_tokens) const {
  const size_t invalid = utf8::FirstInvalidOffset(text);
  if (invalid != text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (at byte ", invalid, ")"));
  }
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = special_frame_.prefix;
  size_t offset = 0;
  for (const TextSegment& segment :
       added_vocabulary_.Split(text, AddedVocabulary::Pass::kRaw)) {
    const bool starts_input = offset == 0;
    offset += segment.text.size();
    if (segment.added_id) {
      ids.push_back(*segment.added_id);
    } else {
      EncodeSegment(segment.text, starts_input, &ids);
    }
  }
  if (add_special_tokens) {
    ids.insert(ids.end(), special_frame_.suffix.begin(),
               special_frame_.suffix.end());
  }
  return ids;
}

std::string HfTokenizer::Decode(absl::Span<const int32_t> ids,
                                bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* added = added_vocabulary_.FindById(id)) {
      if (!(skip_special_tokens && added->special))
        tokens.push_back(added->content);
    } else if (const std::string* token = model_->IdToToken(id)) {
      tokens.push_back(*token);
    }
  }
  if (decoder_ == nullptr) return absl::StrJoin(tokens, " ");
  return absl::StrJoin(decoder_->DecodeChain(std::move(tokens)), "");
}

bool HfTokenizer::DecodeMayChangeAfter(int32_t last_id) const {
  if (decoder_ == nullptr) return false;
  // The token text Decode hands the decoder for `last_id`.
  if (const AddedToken* added = added_vocabulary_.FindById(last_id)) {
    return decoder_->MayChangeAfter(added->content);
  }
  const std::string* token = model_->IdToToken(last_id);
  // Decode drops an id without a token (a gap in the vocabulary), so it
  // ends nothing: what happens next depends on the ids before it.
  return token == nullptr || decoder_->MayChangeAfter(*token);
}

bool HfTokenizer::IsSpecial(int32_t id) const {
  const AddedToken* added = added_vocabulary_.FindById(id);
  return added != nullptr && added->special;
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  if (std::optional<int32_t> id = added_vocabulary_.FindByContent(token))
    return id;
  return model_->TokenToId(token);
}

}  // namespace loraplex::engine
