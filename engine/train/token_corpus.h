// Tokenised training text: each corpus file becomes one token stream whose
// last `heldout_fraction` of tokens is held out for evaluation. Training
// windows are drawn at random from the rest; every window (training and
// held-out) starts with BOS, as every prompt the engine sees does.
#ifndef LORAPLEX_ENGINE_TRAIN_TOKEN_CORPUS_H_
#define LORAPLEX_ENGINE_TRAIN_TOKEN_CORPUS_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace loraplex::engine {

// `tokens` cut into consecutive windows of BOS + up to seq_len - 1 tokens
// (the last may be shorter); every token is in exactly one window.
std::vector<std::vector<int64_t>> CutIntoWindows(
    const std::vector<int32_t>& tokens, int32_t bos_id, int64_t seq_len);

struct CorpusOptions {
  double heldout_fraction = 0.02;  // In [0, 0.5].
  int64_t seq_len = 128;           // Window length, BOS included; >= 2.
};

// Immutable after FromFiles; sampling state lives in the caller's RNG.
class TokenCorpus {
 public:
  // Reads and encodes every file (no special tokens). INVALID_ARGUMENT when
  // no file has enough training tokens for one window, or for bad options;
  // NOT_FOUND for a missing file; the tokenizer's error (with the file
  // name) if a file cannot be encoded.
  static absl::StatusOr<TokenCorpus> FromFiles(
      const std::vector<std::string>& files, const Tokenizer& tokenizer,
      const CorpusOptions& options);
  // The same from already tokenised streams (one per "file").
  static absl::StatusOr<TokenCorpus> FromStreams(
      std::vector<std::vector<int32_t>> streams, int32_t bos_id,
      const CorpusOptions& options);

  // `batch` windows of seq_len ids, row-major: BOS, then seq_len - 1
  // consecutive training tokens. Every start position of every stream is
  // equally likely. Deterministic for a given RNG state.
  std::vector<int64_t> SampleBatch(int64_t batch, std::mt19937_64& rng) const;

  // The held-out tokens cut into consecutive windows of BOS + up to
  // seq_len - 1 tokens (each stream's last window may be shorter). Every
  // held-out token is predicted exactly once.
  std::vector<std::vector<int64_t>> HeldoutWindows() const;

  int64_t train_tokens() const { return train_tokens_; }
  int64_t heldout_tokens() const { return heldout_tokens_; }
  int64_t seq_len() const { return options_.seq_len; }

 private:
  TokenCorpus() = default;

  CorpusOptions options_;
  int32_t bos_id_ = 0;
  std::vector<std::vector<int32_t>> train_;
  std::vector<std::vector<int32_t>> heldout_;
  // Cumulative count of window start positions over train_.
  std::vector<uint64_t> cumulative_starts_;
  int64_t train_tokens_ = 0;
  int64_t heldout_tokens_ = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_TOKEN_CORPUS_H_
