#include "engine/tokenizer/split_pattern.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/unicode_text.h"
#include "engine/tokenizer/utf8.h"
#include "re2/re2.h"

namespace loraplex::engine {
namespace {

// Oniguruma's Unicode-aware classes, spelled for RE2 (see
// Note [Supported regex features]). Class bodies go inside [...].
constexpr absl::string_view kSpaceClassBody = R"(\x09-\x0D\x{85}\p{Z})";
constexpr absl::string_view kWordClassBody = R"(\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc})";

constexpr std::string_view kLookAheadWhiteSpace = R"(\s+(?!\S))";
constexpr std::string_view kWhiteSpace = R"(\s+)";

absl::Status Unsupported(absl::string_view pattern, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("regex pattern \"", pattern, "\": ", what,
                   " is not supported (see split_pattern.h)"));
}

// Splits `pattern` at its top-level '|' (outside groups and classes).
std::vector<std::string> TopLevelAlternatives(std::string_view pattern) {
  std::vector<std::string> alternatives(1);
  int group_depth = 0;
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      alternatives.back() += pattern.substr(i, 2);
      ++i;
      continue;
    }
    if (c == '[') {
      ++class_depth;
    } else if (c == ']' && class_depth > 0) {
      --class_depth;
    } else if (class_depth == 0 && c == '(') {
      ++group_depth;
    } else if (class_depth == 0 && c == ')') {
      --group_depth;
    } else if (class_depth == 0 && group_depth == 0 && c == '|') {
      alternatives.emplace_back();
      continue;
    }
    alternatives.back() += c;
  }
  return alternatives;
}

// Rewrites one escape (`\` followed by `letter`) for RE2.
absl::StatusOr<std::string> TranslateEscape(absl::string_view pattern,
                                            char letter, bool in_class) {
  switch (letter) {
    case 's':
      return in_class ? std::string(kSpaceClassBody)
                      : absl::StrCat("[", kSpaceClassBody, "]");
    case 'w':
      return in_class ? std::string(kWordClassBody)
                      : absl::StrCat("[", kWordClassBody, "]");
    case 'S':
    case 'W':
      if (in_class) {
        return Unsupported(pattern, absl::StrCat("\\", std::string(1, letter),
                                                 " inside a character class"));
      }
      return absl::StrCat(
          "[^", letter == 'S' ? kSpaceClassBody : kWordClassBody, "]");
    case 'd':
      return std::string(R"(\p{Nd})");
    case 'D':
      return std::string(R"(\P{Nd})");
    case 'h':
    case 'H':
      return Unsupported(pattern, "Oniguruma's \\h (hex digit) class");
    default:
      return absl::StrCat("\\", std::string(1, letter));
  }
}

// Translates an Oniguruma pattern (without the hand-evaluated alternatives)
// to RE2 syntax, refusing look-around.
absl::StatusOr<std::string> TranslateToRe2(absl::string_view pattern) {
  std::string out;
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      ASSIGN_OR_RETURN(
          std::string escape,
          TranslateEscape(pattern, pattern[i + 1], class_depth > 0));
      out += escape;
      ++i;
      continue;
    }
    if (c == '[') {
      ++class_depth;
    } else if (c == ']' && class_depth > 0) {
      --class_depth;
    } else if (class_depth == 0 && c == '(') {
      const absl::string_view rest = pattern.substr(i);
      for (absl::string_view look : {"(?=", "(?!", "(?<=", "(?<!"}) {
        if (rest.substr(0, look.size()) == look) {
          return Unsupported(pattern,
                             absl::StrCat("look-around \"", look, "\""));
        }
      }
    }
    out += c;
  }
  return out;
}

}  // namespace

struct SplitPattern::SearchCache {
  bool valid = false;
  size_t from = 0;
  std::optional<Match> result;
};

SplitPattern::~SplitPattern() = default;

absl::StatusOr<std::unique_ptr<SplitPattern>> SplitPattern::Literal(
    std::string_view literal) {
  if (literal.empty()) {
    return absl::InvalidArgumentError("split pattern: empty string pattern");
  }
  std::unique_ptr<SplitPattern> pattern(new SplitPattern());
  pattern->literal_ = std::string(literal);
  return pattern;
}

absl::StatusOr<std::unique_ptr<SplitPattern>> SplitPattern::Regex(
    std::string_view oniguruma_pattern) {
  std::unique_ptr<SplitPattern> pattern(new SplitPattern());
  std::vector<std::string> alternatives =
      TopLevelAlternatives(oniguruma_pattern);
  const size_t n = alternatives.size();
  if (n >= 2 && alternatives[n - 2] == kLookAheadWhiteSpace &&
      alternatives[n - 1] == kWhiteSpace) {
    pattern->white_space_rule_ = true;
    pattern->white_space_fallback_ = true;
    alternatives.resize(n - 2);
  } else if (alternatives[n - 1] == kLookAheadWhiteSpace) {
    pattern->white_space_rule_ = true;
    alternatives.resize(n - 1);
  }
  if (alternatives.empty()) return pattern;

  ASSIGN_OR_RETURN(std::string translated,
                   TranslateToRe2(absl::StrJoin(alternatives, "|")));
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(int64_t{64} << 20);
  // (?m): ^ and $ match at line boundaries, as in Oniguruma.
  auto regex = std::make_unique<RE2>(absl::StrCat("(?m)", translated), options);
  if (!regex->ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "regex pattern \"",
        absl::string_view(oniguruma_pattern.data(), oniguruma_pattern.size()),
        "\" is not supported: ", regex->error()));
  }
  pattern->regex_ = std::move(regex);
  return pattern;
}

std::optional<SplitPattern::Match> SplitPattern::RegexFindFrom(
    std::string_view text, size_t from, SearchCache* cache) const {
  // A search from an earlier position that found nothing, or a match that
  // starts at or after `from`, is also the answer from `from`.
  if (cache->valid && cache->from <= from &&
      (!cache->result || cache->result->begin >= from)) {
    return cache->result;
  }
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece match;
  cache->valid = true;
  cache->from = from;
  cache->result.reset();
  if (regex_->Match(input, from, text.size(), RE2::UNANCHORED, &match, 1)) {
    const size_t begin = static_cast<size_t>(match.data() - text.data());
    cache->result = Match{begin, begin + match.size()};
  }
  return cache->result;
}

std::optional<SplitPattern::Match> SplitPattern::WhiteSpaceRuleAt(
    std::string_view text, size_t pos) const {
  const size_t run_end =
      pos + unicode::LeadingWhiteSpaceLength(text.substr(pos));
  if (run_end == text.size()) return Match{pos, run_end};
  // A non-space follows: `\s+(?!\S)` backtracks by one character.
  const size_t last_char = utf8::LastCharStart(text.substr(0, run_end));
  if (last_char > pos) return Match{pos, last_char};
  if (white_space_fallback_) return Match{pos, run_end};
  return std::nullopt;
}

std::optional<SplitPattern::Match> SplitPattern::FindFrom(
    std::string_view text, size_t from, SearchCache* cache) const {
  if (!literal_.empty()) {
    const size_t begin = text.find(literal_, from);
    if (begin == std::string_view::npos) return std::nullopt;
    return Match{begin, begin + literal_.size()};
  }
  std::optional<Match> regex_match;
  if (regex_ != nullptr) regex_match = RegexFindFrom(text, from, cache);
  if (!white_space_rule_) return regex_match;
  // The hand-evaluated alternatives come last: they win only at a position
  // before the leftmost match of the others.
  const size_t limit = regex_match ? regex_match->begin : text.size();
  size_t pos = from;
  while (pos < limit) {
    size_t next = pos;
    if (unicode::IsWhiteSpace(utf8::DecodeAt(text, &next))) {
      if (std::optional<Match> white_space = WhiteSpaceRuleAt(text, pos)) {
        return white_space;
      }
    }
    pos = next;
  }
  return regex_match;
}

std::vector<PatternSpan> SplitPattern::FindMatches(
    std::string_view text) const {
  if (text.empty()) return {PatternSpan{0, 0, false}};
  std::vector<PatternSpan> spans;
  SearchCache cache;
  size_t previous_end = 0;
  size_t search_from = 0;
  std::optional<size_t> last_match_end;
  while (search_from <= text.size()) {
    const std::optional<Match> match = FindFrom(text, search_from, &cache);
    if (!match) break;
    if (match->begin == match->end) {
      // Step over one character so an empty match cannot repeat, and drop
      // an empty match right where the previous match ended (Rust's rule).
      const size_t step = match->end < text.size()
                              ? utf8::ValidCharLength(text.substr(match->end))
                              : 1;
      search_from = match->end + (step == 0 ? 1 : step);
      if (last_match_end == match->end) continue;
    } else {
      search_from = match->end;
    }
    last_match_end = match->end;
    if (previous_end != match->begin) {
      spans.push_back({previous_end, match->begin, false});
    }
    spans.push_back({match->begin, match->end, true});
    previous_end = match->end;
  }
  if (previous_end != text.size()) {
    spans.push_back({previous_end, text.size(), false});
  }
  return spans;
}

}  // namespace loraplex::engine
