// Trains a byte-level BPE vocabulary (GPT-2 / Llama 3 style) from text and
// writes it as a Hugging Face tokenizer.json that Tokenizer::Load and HF
// tokenizers read.
#ifndef LORAPLEX_ENGINE_TRAIN_BPE_TRAINER_H_
#define LORAPLEX_ENGINE_TRAIN_BPE_TRAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loraplex::engine {

class PreTokenizer;  // engine/tokenizer/pre_tokenizer.h

struct BpeTrainerOptions {
  // Total tokens, special tokens and the 256-character byte alphabet
  // included. Training stops earlier when no pair occurs min_frequency times.
  int32_t vocab_size = 4096;
  int64_t min_frequency = 2;  // A pair seen fewer times is never merged.
  // Added tokens, given ids 0 and 1 (BOS is prepended by the post-processor).
  std::string bos_token = "<|begin_of_text|>";
  std::string eos_token = "<|end_of_text|>";
};

// A trained tokenizer. Tokens are in byte-level alphabet form ("Ġthe").
struct BpeVocabulary {
  std::vector<std::string> tokens;  // Indexed by id.
  // In rank order; each pair's concatenation is a token.
  std::vector<std::pair<std::string, std::string>> merges;
  int32_t bos_id = 0;
  int32_t eos_id = 1;
  std::string bos_token;
  std::string eos_token;
};

// Counts words as text is added, then learns merges. Not thread-safe.
class BpeTrainer {
 public:
  static absl::StatusOr<std::unique_ptr<BpeTrainer>> Create(
      const BpeTrainerOptions& options);
  ~BpeTrainer();

  // Pre-tokenises `text` exactly as the engine's tokenizer will (its
  // ByteLevel pre-tokenizer: the GPT-2 pattern, then bytes mapped to the
  // byte-level alphabet) and counts the words. INVALID_ARGUMENT (with the
  // byte offset) if `text` is not valid UTF-8.
  absl::Status AddText(std::string_view text);

  // Learns merges from everything added: repeatedly merges the most frequent
  // adjacent pair (ties: the pair of smallest (left id, right id)), keeping
  // pair counts up to date incrementally. Deterministic for the same input.
  // INVALID_ARGUMENT if vocab_size cannot hold the specials and alphabet.
  absl::StatusOr<BpeVocabulary> Train() const;

  int64_t distinct_words() const { return word_counts_.size(); }

 private:
  BpeTrainer(const BpeTrainerOptions& options,
             std::unique_ptr<PreTokenizer> pre_tokenizer);

  BpeTrainerOptions options_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  // Words in byte-level alphabet form -> occurrences.
  absl::flat_hash_map<std::string, int64_t> word_counts_;
};

// Writes <dir>/tokenizer.json (model BPE, ByteLevel pre-tokenizer and
// decoder, TemplateProcessing that prepends BOS, the specials as added
// tokens) and <dir>/tokenizer_config.json. Creates `dir` if needed.
absl::Status WriteHfTokenizerFiles(const BpeVocabulary& vocabulary,
                                   const std::string& dir);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_BPE_TRAINER_H_
