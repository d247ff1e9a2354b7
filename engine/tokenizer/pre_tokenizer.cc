#include "engine/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

// The regex of HF's ByteLevel pre-tokenizer with use_regex=true (GPT-2's).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Cuts every piece with `pattern` and `behavior`.
void SplitPieces(const SplitPattern& pattern, SplitBehavior behavior,
                 bool invert, std::vector<PreToken>* pieces) {
  std::vector<PreToken> out;
  out.reserve(pieces->size());
  for (PreToken& piece : *pieces) {
    for (const PatternSpan& span : ApplySplitBehavior(
             pattern.FindMatches(piece.text), behavior, invert)) {
      out.push_back(
          PreToken{piece.text.substr(span.begin, span.end - span.begin),
                   piece.starts_input && span.begin == 0});
    }
  }
  *pieces = std::move(out);
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<SplitPattern> pattern,
                    SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void PreTokenize(std::vector<PreToken>* pieces) const override {
    SplitPieces(*pattern_, behavior_, invert_, pieces);
  }

 private:
  std::unique_ptr<SplitPattern> pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space,
                        std::unique_ptr<SplitPattern> gpt2_pattern)
      : add_prefix_space_(add_prefix_space),
        gpt2_pattern_(std::move(gpt2_pattern)) {}

  void PreTokenize(std::vector<PreToken>* pieces) const override {
    if (add_prefix_space_) {
      for (PreToken& piece : *pieces) {
        if (piece.text.empty() || piece.text[0] != ' ') {
          piece.text.insert(0, 1, ' ');
        }
      }
    }
    if (gpt2_pattern_ != nullptr) {
      SplitPieces(*gpt2_pattern_, SplitBehavior::kIsolated, /*invert=*/false,
                  pieces);
    }
    for (PreToken& piece : *pieces) piece.text = ByteLevelEncode(piece.text);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPattern> gpt2_pattern_;  // Null: use_regex false.
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme,
                        std::unique_ptr<SplitPattern> split_on_replacement)
      : replacement_(std::move(replacement)),
        scheme_(scheme),
        split_on_replacement_(std::move(split_on_replacement)) {}

  void PreTokenize(std::vector<PreToken>* pieces) const override {
    for (PreToken& piece : *pieces) {
      piece.text = absl::StrReplaceAll(piece.text, {{" ", replacement_}});
      const bool prepend =
          scheme_ == PrependScheme::kAlways ||
          (scheme_ == PrependScheme::kFirst && piece.starts_input);
      if (prepend &&
          piece.text.compare(0, replacement_.size(), replacement_) != 0) {
        piece.text.insert(0, replacement_);
      }
    }
    if (split_on_replacement_ != nullptr) {
      SplitPieces(*split_on_replacement_, SplitBehavior::kMergedWithNext,
                  /*invert=*/false, pieces);
    }
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  std::unique_ptr<SplitPattern> split_on_replacement_;  // Null: split false.
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(
      std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}

  void PreTokenize(std::vector<PreToken>* pieces) const override {
    for (const auto& step : steps_) step->PreTokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseByteLevel(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(bool add_prefix_space,
                   json_fields::OptionalBool(config, "add_prefix_space", path,
                                             /*fallback=*/true));
  ASSIGN_OR_RETURN(bool use_regex,
                   json_fields::OptionalBool(config, "use_regex", path, true));
  std::unique_ptr<SplitPattern> pattern;
  if (use_regex) {
    ASSIGN_OR_RETURN(pattern, SplitPattern::Regex(kGpt2Pattern));
  }
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space,
                                                 std::move(pattern));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseSplit(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(const nlohmann::json* pattern_json,
                   json_fields::Required(config, "pattern", path));
  ASSIGN_OR_RETURN(
      std::unique_ptr<SplitPattern> pattern,
      ParseSplitPattern(*pattern_json, json_fields::Join(path, "pattern")));
  ASSIGN_OR_RETURN(std::string behavior_name,
                   json_fields::RequiredString(config, "behavior", path));
  ASSIGN_OR_RETURN(SplitBehavior behavior, ParseSplitBehavior(behavior_name));
  ASSIGN_OR_RETURN(bool invert,
                   json_fields::OptionalBool(config, "invert", path, false));
  return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior,
                                             invert);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseDigits(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(
      bool individual,
      json_fields::OptionalBool(config, "individual_digits", path, false));
  // HF splits on char::is_numeric (\p{N}): one piece per digit, or per run.
  ASSIGN_OR_RETURN(std::unique_ptr<SplitPattern> pattern,
                   SplitPattern::Regex(individual ? R"(\p{N})" : R"(\p{N}+)"));
  return std::make_unique<SplitPreTokenizer>(
      std::move(pattern), SplitBehavior::kIsolated, /*invert=*/false);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseMetaspace(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string replacement,
                   json_fields::RequiredString(config, "replacement", path));
  if (replacement.empty() ||
      utf8::ValidCharLength(replacement) != replacement.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".replacement must be one character"));
  }
  ASSIGN_OR_RETURN(
      std::string scheme_name,
      json_fields::OptionalString(config, "prepend_scheme", path, "always"));
  PrependScheme scheme;
  if (scheme_name == "always") {
    scheme = PrependScheme::kAlways;
  } else if (scheme_name == "first") {
    scheme = PrependScheme::kFirst;
  } else if (scheme_name == "never") {
    scheme = PrependScheme::kNever;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".prepend_scheme \"", scheme_name,
                     "\" is not always/first/never"));
  }
  // Older files say add_prefix_space=false instead of prepend_scheme=never.
  ASSIGN_OR_RETURN(std::optional<bool> add_prefix_space,
                   json_fields::MaybeBool(config, "add_prefix_space", path));
  if (add_prefix_space == false) scheme = PrependScheme::kNever;
  ASSIGN_OR_RETURN(bool split,
                   json_fields::OptionalBool(config, "split", path, true));
  std::unique_ptr<SplitPattern> pattern;
  if (split) {
    ASSIGN_OR_RETURN(pattern, SplitPattern::Literal(replacement));
  }
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme,
                                                 std::move(pattern));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseSequence(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::vector<std::unique_ptr<PreTokenizer>> steps,
                   json_fields::ParseList<PreTokenizer>(
                       config, "pretokenizers", path, &ParsePreTokenizer));
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

}  // namespace

std::vector<PatternSpan> ApplySplitBehavior(std::vector<PatternSpan> spans,
                                            SplitBehavior behavior,
                                            bool invert) {
  if (invert) {
    for (PatternSpan& span : spans) span.is_match = !span.is_match;
  }
  // As in HF's NormalizedString::split; in `pieces`, is_match means "drop".
  std::vector<PatternSpan> pieces;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      pieces = std::move(spans);
      break;
    case SplitBehavior::kIsolated:
      pieces = std::move(spans);
      for (PatternSpan& piece : pieces) piece.is_match = false;
      break;
    case SplitBehavior::kContiguous:
    case SplitBehavior::kMergedWithPrevious:
      for (const PatternSpan& span : spans) {
        const bool join = behavior == SplitBehavior::kContiguous
                              ? span.is_match == previous_match
                              : span.is_match && !previous_match;
        if (join && !pieces.empty()) {
          pieces.back().end = span.end;
        } else {
          pieces.push_back({span.begin, span.end, false});
        }
        previous_match = span.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  pieces.erase(std::remove_if(pieces.begin(), pieces.end(),
                              [](const PatternSpan& piece) {
                                return piece.is_match ||
                                       piece.begin == piece.end;
                              }),
               pieces.end());
  return pieces;
}

absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown split behavior \"", name, "\""));
}

absl::StatusOr<std::unique_ptr<SplitPattern>> ParseSplitPattern(
    const nlohmann::json& pattern, absl::string_view path) {
  if (const nlohmann::json* regex = json_fields::Optional(pattern, "Regex")) {
    if (!regex->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".Regex must be a string"));
    }
    return SplitPattern::Regex(regex->get<std::string>());
  }
  if (const nlohmann::json* literal =
          json_fields::Optional(pattern, "String")) {
    if (!literal->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".String must be a string"));
    }
    return SplitPattern::Literal(literal->get<std::string>());
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, " must be {\"String\": ...} or {\"Regex\": ...}"));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string type,
                   json_fields::RequiredString(config, "type", path));
  if (type == "ByteLevel") return ParseByteLevel(config, path);
  if (type == "Split") return ParseSplit(config, path);
  if (type == "Digits") return ParseDigits(config, path);
  if (type == "Metaspace") return ParseMetaspace(config, path);
  if (type == "Sequence") return ParseSequence(config, path);
  return absl::InvalidArgumentError(absl::StrCat(
      path, " type \"", type,
      "\" is not supported (supported: ByteLevel, Split, Digits, Metaspace, "
      "Sequence)"));
}

}  // namespace loraplex::engine
