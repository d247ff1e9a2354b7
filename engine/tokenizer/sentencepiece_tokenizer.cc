#include "engine/tokenizer/sentencepiece_tokenizer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"

namespace loraplex::engine {
namespace {

// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space.
constexpr absl::string_view kSpaceSymbol = "\xE2\x96\x81";

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>>
SentencePieceTokenizer::Create(const std::string& model_path,
                               const TokenizerConfig& config) {
  std::string error;
  std::unique_ptr<SentencePieceModel> model =
      SentencePieceModel::Load(model_path, &error);
  if (model == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load SentencePiece model ", model_path, ": ", error));
  }
  std::unique_ptr<SentencePieceTokenizer> tokenizer(
      new SentencePieceTokenizer(std::move(model)));
  const SentencePieceModel& sp = *tokenizer->model_;
  const auto resolve = [&](const std::optional<std::string>& text,
                           int model_id) -> std::optional<int32_t> {
    if (text) {
      const int id = sp.PieceToId(*text);
      if (id >= 0) return id;
    }
    if (model_id >= 0) return model_id;
    return std::nullopt;
  };
  tokenizer->bos_id_ = resolve(config.bos_token, sp.bos_id());
  tokenizer->eos_id_ = resolve(config.eos_token, sp.eos_id());
  tokenizer->add_bos_ =
      config.add_bos_token.value_or(tokenizer->bos_id_.has_value());
  tokenizer->add_eos_ = config.add_eos_token.value_or(false);
  if ((tokenizer->add_bos_ && !tokenizer->bos_id_) ||
      (tokenizer->add_eos_ && !tokenizer->eos_id_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer_config.json asks to add a ",
                     tokenizer->add_bos_ && !tokenizer->bos_id_ ? "BOS" : "EOS",
                     " token, but ", model_path, " has none"));
  }
  return tokenizer;
}

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::Encode(
    std::string_view text, bool add_special_tokens) const {
  const size_t invalid = utf8::FirstInvalidOffset(text);
  if (invalid != text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (at byte ", invalid, ")"));
  }
  std::vector<int> pieces;
  std::string error;
  if (!model_->Encode(text, &pieces, &error)) {
    return absl::InternalError(
        absl::StrCat("SentencePiece encode failed: ", error));
  }
  std::vector<int32_t> ids;
  ids.reserve(pieces.size() + 2);
  if (add_special_tokens && add_bos_) ids.push_back(*bos_id_);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  if (add_special_tokens && add_eos_) ids.push_back(*eos_id_);
  return ids;
}

std::string SentencePieceTokenizer::DecodeRun(
    const std::vector<int>& run, const std::string& decoded_so_far) const {
  std::string text = model_->Decode(run);
  // SentencePiece drops the leading space of the first piece it decodes;
  // after text shown for a control piece that space is real.
  if (!decoded_so_far.empty() &&
      absl::StartsWith(model_->IdToPiece(run.front()), kSpaceSymbol) &&
      (text.empty() || text[0] != ' ')) {
    text.insert(0, 1, ' ');
  }
  return text;
}

std::string SentencePieceTokenizer::Decode(absl::Span<const int32_t> ids,
                                           bool skip_special_tokens) const {
  std::string out;
  std::vector<int> run;
  for (int32_t id : ids) {
    if (!InVocabulary(id)) continue;
    if (!model_->IsControl(id)) {
      run.push_back(id);
      continue;
    }
    if (skip_special_tokens) continue;
    if (!run.empty()) out += DecodeRun(std::exchange(run, {}), out);
    out += model_->IdToPiece(id);
  }
  if (!run.empty()) out += DecodeRun(run, out);
  return out;
}

bool SentencePieceTokenizer::IsSpecial(int32_t id) const {
  return InVocabulary(id) && model_->IsControl(id);
}

std::optional<int32_t> SentencePieceTokenizer::TokenToId(
    std::string_view token) const {
  const int id = model_->PieceToId(token);
  if (id < 0) return std::nullopt;
  return id;
}

}  // namespace loraplex::engine
