// Hugging Face tokenizers' pre-tokenizers: they cut normalized text into the
// pieces the model encodes one at a time, and may rewrite them (ByteLevel
// maps bytes to its alphabet, Metaspace spaces to '▁').
// Supported types: ByteLevel, Split, Digits, Metaspace, Sequence.
#ifndef LORAPLEX_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
#define LORAPLEX_ENGINE_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/split_pattern.h"
#include "nlohmann/json_fwd.hpp"

namespace loraplex::engine {

// A piece of text on its way to the model.
struct PreToken {
  std::string text;
  // The piece begins where the encoded input begins (Metaspace's
  // prepend_scheme "first" adds '▁' only there).
  bool starts_input = false;
};

// What Split does with the matches of its pattern (HF's
// SplitDelimiterBehavior).
enum class SplitBehavior {
  kRemoved,             // Matches are dropped.
  kIsolated,            // Matches become pieces of their own.
  kMergedWithPrevious,  // A match joins the piece before it.
  kMergedWithNext,      // A match joins the piece after it.
  kContiguous,          // Consecutive matches join into one piece.
};

// The byte ranges of the pieces `behavior` makes of `spans` (from
// SplitPattern::FindMatches; `invert` swaps matches and non-matches first).
// Empty pieces are left out.
std::vector<PatternSpan> ApplySplitBehavior(std::vector<PatternSpan> spans,
                                            SplitBehavior behavior,
                                            bool invert);

// Immutable after parsing; PreTokenize may be called from several threads.
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their pre-tokenized pieces (never empty ones).
  virtual void PreTokenize(std::vector<PreToken>* pieces) const = 0;
};

// Builds the pre-tokenizer that the JSON `config` describes (its "type"
// field); `path` names it in messages. INVALID_ARGUMENT for unsupported
// types (named in the message), bad fields or unsupported regexes.
absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(
    const nlohmann::json& config, absl::string_view path);

// Parses "Isolated", "Removed", ... as HF serializes them.
absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name);

// Builds a SplitPattern from HF's {"String": ...} or {"Regex": ...} object.
absl::StatusOr<std::unique_ptr<SplitPattern>> ParseSplitPattern(
    const nlohmann::json& pattern, absl::string_view path);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
