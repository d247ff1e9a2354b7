// The patterns of Hugging Face tokenizers' Split pre-tokenizer and Replace
// normalizer/decoder: a literal string or an Oniguruma regex, run on RE2.
//
// Note [Supported regex features]
// A regex pattern is translated to RE2 syntax, which accepts the usual Perl
// constructs: alternation, groups, (?i:...) and other flag groups, classes
// with \p{..} Unicode properties, counted repetition. Differences handled:
//  - \s, \S, \w, \W, \d, \D are Unicode-aware as in Oniguruma (RE2's are
//    ASCII-only): \s is the White_Space property, \w is letters, marks,
//    decimal and letter numbers, and connector punctuation, \d is \p{Nd}.
//    \S and \W are not accepted inside a character class.
//  - ^ and $ match at line boundaries (Oniguruma's default).
//  - Look-around is not supported by RE2. The one look-ahead that tokenizer
//    patterns use, a trailing `\s+(?!\S)` alternative (GPT-2, Llama-3, Qwen2),
//    optionally followed by a last `\s+` alternative, is evaluated by hand: a
//    whitespace run matches whole when it ends the text, and otherwise gives
//    up its last character (which then joins the next word, as in " word").
//    Any other look-around, back-references, possessive or atomic groups are
//    refused when the pattern is created, naming the problem.
#ifndef LORAPLEX_ENGINE_TOKENIZER_SPLIT_PATTERN_H_
#define LORAPLEX_ENGINE_TOKENIZER_SPLIT_PATTERN_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace loraplex::engine {

// One span of a text: a match of the pattern, or text between matches.
struct PatternSpan {
  size_t begin = 0;
  size_t end = 0;
  bool is_match = false;
};

// Immutable after creation; FindMatches may be called from several threads.
class SplitPattern {
 public:
  // INVALID_ARGUMENT for an empty literal or an unsupported regex (see
  // Note [Supported regex features]); the message names the pattern.
  static absl::StatusOr<std::unique_ptr<SplitPattern>> Literal(
      std::string_view literal);
  static absl::StatusOr<std::unique_ptr<SplitPattern>> Regex(
      std::string_view oniguruma_pattern);
  ~SplitPattern();

  // Hugging Face's Pattern::find_matches: spans that cover `text` (valid
  // UTF-8) in order, matches and the text between them. Empty matches are
  // reported (as empty spans) the way Rust's find_iter does. An empty text
  // gives one empty non-match span.
  std::vector<PatternSpan> FindMatches(std::string_view text) const;

 private:
  struct Match {
    size_t begin;
    size_t end;
  };
  // Remembers the last RE2 search so a scan does not search the same text
  // twice.
  struct SearchCache;

  SplitPattern() = default;

  // The leftmost match that starts at or after `from`.
  std::optional<Match> FindFrom(std::string_view text, size_t from,
                                SearchCache* cache) const;
  std::optional<Match> RegexFindFrom(std::string_view text, size_t from,
                                     SearchCache* cache) const;
  // The hand-evaluated `\s+(?!\S)` (and `\s+`) alternatives at `pos`.
  std::optional<Match> WhiteSpaceRuleAt(std::string_view text,
                                        size_t pos) const;

  std::string literal_;                // Set for literal patterns.
  std::unique_ptr<re2::RE2> regex_;    // Alternatives RE2 evaluates, or null.
  bool white_space_rule_ = false;      // Trailing `\s+(?!\S)` alternative.
  bool white_space_fallback_ = false;  // ...followed by a last `\s+`.
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_SPLIT_PATTERN_H_
