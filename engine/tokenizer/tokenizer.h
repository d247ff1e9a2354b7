// Text <-> token ids for a model directory: Hugging Face tokenizer.json
// (BPE) or SentencePiece tokenizer.model.
#ifndef LORAPLEX_ENGINE_TOKENIZER_TOKENIZER_H_
#define LORAPLEX_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace loraplex::engine {

// Immutable after loading; Encode/Decode are safe from several threads.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads <dir>/tokenizer.json when present and supported, else
  // <dir>/tokenizer.model. <dir>/tokenizer_config.json, when present, may set
  // add_bos_token/add_eos_token and the special tokens' text.
  // NOT_FOUND when <dir> has neither file; INVALID_ARGUMENT (naming the
  // file and the unsupported component or bad field) when none loads.
  // tokenizer.json over 64 MiB and tokenizer_config.json over 4 MiB are
  // refused unread, and either nested deeper than 64 levels unparsed
  // (kTokenizerJsonLimits, kTokenizerConfigJsonLimits).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(
      const std::string& dir);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromHfJson(
      std::string_view tokenizer_json);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSentencePieceFile(
      const std::string& model_path);

  // `add_special_tokens` applies the post-processor (e.g. BOS) the way HF's
  // `encode(text, add_special_tokens=...)` does.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(
      std::string_view text, bool add_special_tokens) const = 0;
  // Ids outside the vocabulary decode to nothing.
  virtual std::string Decode(absl::Span<const int32_t> ids,
                             bool skip_special_tokens) const = 0;
  // Whether Decode of ids ending in `last_id` may still change when more ids
  // follow, other than by completing a character now shown as U+FFFD (a
  // byte-fallback token of HF's ByteFallback decoder, see
  // Decoder::MayChangeAfter; or an id Decode drops, which ends no run).
  // IncrementalDetokenizer holds text back then.
  virtual bool DecodeMayChangeAfter(int32_t last_id) const { return false; }

  // One past the largest token id (model vocabulary and added tokens).
  virtual int32_t vocab_size() const = 0;
  virtual bool IsSpecial(int32_t id) const = 0;
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;
  virtual std::optional<int32_t> bos_token_id() const = 0;
  virtual std::optional<int32_t> eos_token_id() const = 0;
};

// Streams text for a growing id sequence. The concatenation of everything
// Push() and Flush() return equals tokenizer.Decode(all ids), and no call
// returns part of a UTF-8 character. Not thread-safe; one per sequence.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Returns the text that `id` makes final (possibly empty).
  std::string Push(int32_t id);
  // Returns whatever is still held back (an incomplete UTF-8 tail is
  // replaced as Decode would replace it).
  std::string Flush();

 private:
  // Decodes the window and returns the text that became final (all of the
  // rest when `flush`); see Note [Incremental detokenization].
  std::string TakeText(bool flush);

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // Decode context starts here.
  size_t read_offset_ = 0;    // Text up to here has been emitted.
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_TOKENIZER_H_
