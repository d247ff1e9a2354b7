// A SentencePiece tokenizer.model (Llama-2, Mistral and similar), run by
// libsentencepiece, with the special-token handling of transformers'
// tokenizers: BOS (and optionally EOS) added by Encode, control pieces
// skipped or shown by Decode.
#ifndef LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/sentencepiece_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_config.h"

namespace loraplex::engine {

// Immutable after creation; Encode/Decode are safe from several threads.
class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads `model_path`. `config` may rename BOS/EOS and say whether Encode
  // adds them (default: BOS when the model has one, no EOS).
  // INVALID_ARGUMENT when the file is not a SentencePiece model, or names a
  // BOS/EOS token that the model lacks while asking to add it.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Create(
      const std::string& model_path, const TokenizerConfig& config);

  // Text in special tokens' spelling ("<s>") is encoded as plain text.
  // INVALID_ARGUMENT when `text` is not valid UTF-8.
  absl::StatusOr<std::vector<int32_t>> Encode(
      std::string_view text, bool add_special_tokens) const override;
  // Control pieces (BOS, EOS, padding) are left out when
  // `skip_special_tokens`, else written as their piece text, like
  // transformers' fast Llama tokenizer ("<s> Hello").
  std::string Decode(absl::Span<const int32_t> ids,
                     bool skip_special_tokens) const override;

  int32_t vocab_size() const override { return model_->piece_count(); }
  // Control pieces.
  bool IsSpecial(int32_t id) const override;
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  std::optional<int32_t> bos_token_id() const override { return bos_id_; }
  std::optional<int32_t> eos_token_id() const override { return eos_id_; }

 private:
  explicit SentencePieceTokenizer(std::unique_ptr<SentencePieceModel> model)
      : model_(std::move(model)) {}

  bool InVocabulary(int32_t id) const { return id >= 0 && id < vocab_size(); }
  // Decodes a run of non-control ids that follows `decoded_so_far`.
  std::string DecodeRun(const std::vector<int>& run,
                        const std::string& decoded_so_far) const;

  std::unique_ptr<SentencePieceModel> model_;
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
  bool add_bos_ = true;
  bool add_eos_ = false;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
