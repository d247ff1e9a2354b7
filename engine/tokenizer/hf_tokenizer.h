// A Hugging Face tokenizer.json with a BPE model: added tokens, normalizer,
// pre-tokenizer, BPE, post-processor and decoder, with HF's semantics for
// the supported component types (listed in each component's header).
#ifndef LORAPLEX_ENGINE_TOKENIZER_HF_TOKENIZER_H_
#define LORAPLEX_ENGINE_TOKENIZER_HF_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/bounded_json.h"
#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/decoder.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/post_processor.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_config.h"

namespace loraplex::engine {

// tokenizer.json is refused over 64 MiB or nested deeper than 64 levels
// (Note [Bounded JSON]). Real ones are 2-35 MB (Llama 3: 9 MB, Gemma 3:
// 33 MB) and nest about 5 levels.
inline constexpr JsonLimits kTokenizerJsonLimits{/*max_bytes=*/64 << 20,
                                                 /*max_depth=*/64};

// Immutable after creation; Encode/Decode are safe from several threads.
class HfTokenizer : public Tokenizer {
 public:
  // Builds the tokenizer from tokenizer.json's text. `config` (from
  // tokenizer_config.json) may name the BOS/EOS tokens, and when it sets
  // add_bos_token or add_eos_token, those decide the special tokens Encode
  // adds instead of the post-processor (as transformers' Llama tokenizers
  // do). INVALID_ARGUMENT for malformed JSON, missing or mistyped fields and
  // unsupported components, with a message naming the field or component.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Create(
      std::string_view tokenizer_json, const TokenizerConfig& config);

  // INVALID_ARGUMENT when `text` is not valid UTF-8.
  absl::StatusOr<std::vector<int32_t>> Encode(
      std::string_view text, bool add_special_tokens) const override;
  std::string Decode(absl::Span<const int32_t> ids,
                     bool skip_special_tokens) const override;
  bool DecodeMayChangeAfter(int32_t last_id) const override;

  // One past the largest id of the model vocabulary and the added tokens.
  int32_t vocab_size() const override { return vocab_size_; }
  // Added tokens marked special.
  bool IsSpecial(int32_t id) const override;
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  // From tokenizer_config.json when it names them; else BOS is the first
  // token the post-processor adds, and otherwise both are special added
  // tokens with a well-known name ("<s>", "<|begin_of_text|>", ... and
  // "</s>", "<|endoftext|>", "<|end_of_text|>", ...), if any.
  std::optional<int32_t> bos_token_id() const override { return bos_id_; }
  std::optional<int32_t> eos_token_id() const override { return eos_id_; }

 private:
  HfTokenizer() = default;

  absl::Status ParseComponents(const nlohmann::json& json);
  absl::Status ApplyConfig(const TokenizerConfig& config);
  // The id of a special added token with one of `names`, in their order.
  std::optional<int32_t> FindSpecialByName(
      const std::vector<std::string_view>& names) const;
  // Encodes a piece of text with no added token of the raw pass in it.
  void EncodeSegment(std::string_view text, bool starts_input,
                     std::vector<int32_t>* ids) const;

  AddedVocabulary added_vocabulary_;
  std::unique_ptr<Normalizer> normalizer_;       // Null: none.
  std::unique_ptr<PreTokenizer> pre_tokenizer_;  // Null: none.
  std::unique_ptr<BpeModel> model_;
  SpecialTokenFrame special_frame_;
  std::unique_ptr<Decoder> decoder_;  // Null: tokens are joined by spaces.
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
  int32_t vocab_size_ = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_HF_TOKENIZER_H_
