// Hugging Face tokenizers' added tokens (tokenizer.json "added_tokens"):
// strings matched in the text before pre-tokenization and never split.
#ifndef LORAPLEX_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_
#define LORAPLEX_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace loraplex::engine {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;  // Matches only between non-word characters.
  bool lstrip = false;       // Takes the whitespace before it.
  bool rstrip = false;       // Takes the whitespace after it.
  bool normalized = true;    // Matched in normalized text, not raw text.
  bool special = false;      // Skipped by Decode(skip_special_tokens=true).
};

// A part of the text: an added token's match, or text between matches.
struct TextSegment {
  std::string text;
  std::optional<int32_t> added_id;  // Set for a match.
};

// Immutable after construction; safe to use from several threads.
class AddedVocabulary {
 public:
  // Parses the "added_tokens" list (null: none). INVALID_ARGUMENT for
  // missing ids/content, bad types, empty content or duplicate ids.
  static absl::StatusOr<AddedVocabulary> FromJson(const nlohmann::json& list,
                                                  absl::string_view path);

  // Which tokens Split() looks for.
  enum class Pass {
    kRaw,         // Tokens with normalized=false, in the raw text.
    kNormalized,  // Tokens with normalized=true, in normalized text.
  };
  // Cuts `text` at the matches of the tokens of `pass`, as HF's
  // AddedVocabulary::find_matches does: leftmost-longest matches, honouring
  // single_word, lstrip and rstrip. Empty text gives no segments.
  std::vector<TextSegment> Split(std::string_view text, Pass pass) const;

  // Replaces the text that normalized tokens are matched by (HF matches
  // them by their normalized content). `normalize` maps text to text.
  template <typename NormalizeFn>
  void NormalizeContents(NormalizeFn normalize) {
    for (Matcher& matcher : matchers_) {
      if (matcher.pass == Pass::kNormalized) {
        matcher.text = normalize(tokens_[matcher.token].content);
      }
    }
    IndexMatchers();
  }

  const AddedToken* FindById(int32_t id) const;
  std::optional<int32_t> FindByContent(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // What Split() looks for: a token's (possibly normalized) text.
  struct Matcher {
    std::string text;
    size_t token;  // Index into tokens_.
    Pass pass;
  };
  struct Match {
    size_t begin;
    size_t end;
    const AddedToken* token;
  };

  // Rebuilds by_first_byte_ from matchers_.
  void IndexMatchers();
  // The leftmost-longest match of a `pass` matcher at or after `from`.
  std::optional<Match> FindFrom(std::string_view text, size_t from,
                                Pass pass) const;

  std::vector<AddedToken> tokens_;
  std::vector<Matcher> matchers_;
  // Indices into matchers_ by the first byte of their text, longest first.
  std::array<std::vector<size_t>, 256> by_first_byte_;
  absl::flat_hash_map<int32_t, size_t> index_by_id_;
  absl::flat_hash_map<std::string, int32_t> id_by_content_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_
