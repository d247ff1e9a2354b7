// The BPE model of Hugging Face tokenizers (tokenizer.json "model" with type
// "BPE"): a vocabulary, ranked merges, and the options HF's BPE has apart
// from dropout (refused unless null or 0: encoding must be deterministic).
#ifndef LORAPLEX_ENGINE_TOKENIZER_BPE_MODEL_H_
#define LORAPLEX_ENGINE_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json_fwd.hpp"

namespace loraplex::engine {

// Immutable after FromJson apart from an internal per-word cache; Tokenize
// may be called from several threads.
class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object; `path` names it in
  // messages. INVALID_ARGUMENT for another type, missing or malformed vocab
  // or merges, merges whose tokens are not in the vocabulary, a non-null
  // dropout, or an unk_token outside the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(
      const nlohmann::json& model, absl::string_view path);

  // Appends the ids of one pre-tokenized piece. Characters that are not in
  // the vocabulary become byte-fallback tokens, else the unknown token, else
  // nothing (as in HF).
  void Tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token's text, or null for an id the vocabulary does not have.
  const std::string* IdToToken(int32_t id) const;
  // One past the largest id in the vocabulary.
  int32_t id_limit() const { return id_limit_; }

 private:
  struct MergeResult {
    int32_t rank;
    int32_t new_id;
  };
  // Words up to this many bytes are cached, up to kCacheCapacity of them.
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kCacheCapacity = 10000;

  BpeModel() = default;

  absl::Status ParseVocab(const nlohmann::json& vocab, absl::string_view path);
  absl::Status ParseMerges(const nlohmann::json& merges,
                           absl::string_view path);
  // The initial symbols of `word`: one per character, after fallbacks.
  std::vector<int32_t> InitialSymbols(std::string_view word) const;
  // Applies the merges by rank (lowest first, leftmost among equal ranks).
  void MergeSymbols(std::vector<int32_t>* symbols) const;
  std::vector<int32_t> TokenizeUncached(std::string_view word) const;
  const MergeResult* FindMerge(int32_t left, int32_t right) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  // A map, not a vector: a file with a few huge ids must not allocate for
  // all the ids below them.
  absl::flat_hash_map<int32_t, std::string> id_to_token_;
  int32_t id_limit_ = 0;
  absl::flat_hash_map<uint64_t, MergeResult> merges_;
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_token_ids_{};  // "<0xAB>" tokens; -1: none.

  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_BPE_MODEL_H_
