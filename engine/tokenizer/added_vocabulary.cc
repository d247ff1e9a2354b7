#include "engine/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/unicode_text.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

bool EndsWithWordChar(std::string_view text) {
  if (text.empty()) return false;
  size_t pos = utf8::LastCharStart(text);
  return unicode::IsWordChar(utf8::DecodeAt(text, &pos));
}

bool StartsWithWordChar(std::string_view text) {
  if (text.empty()) return false;
  size_t pos = 0;
  return unicode::IsWordChar(utf8::DecodeAt(text, &pos));
}

absl::StatusOr<AddedToken> ParseAddedToken(const nlohmann::json& entry,
                                           absl::string_view path) {
  AddedToken token;
  ASSIGN_OR_RETURN(const nlohmann::json* id,
                   json_fields::Required(entry, "id", path));
  if (!id->is_number_integer() || id->get<int64_t>() < 0 ||
      id->get<int64_t>() >= std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".id must be a non-negative 32-bit integer"));
  }
  token.id = static_cast<int32_t>(id->get<int64_t>());
  ASSIGN_OR_RETURN(token.content,
                   json_fields::RequiredString(entry, "content", path));
  if (token.content.empty() || !utf8::IsValid(token.content)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".content must be non-empty UTF-8"));
  }
  ASSIGN_OR_RETURN(token.single_word, json_fields::OptionalBool(
                                          entry, "single_word", path, false));
  ASSIGN_OR_RETURN(token.lstrip,
                   json_fields::OptionalBool(entry, "lstrip", path, false));
  ASSIGN_OR_RETURN(token.rstrip,
                   json_fields::OptionalBool(entry, "rstrip", path, false));
  ASSIGN_OR_RETURN(token.special,
                   json_fields::OptionalBool(entry, "special", path, false));
  ASSIGN_OR_RETURN(
      token.normalized,
      json_fields::OptionalBool(entry, "normalized", path, !token.special));
  return token;
}

}  // namespace

absl::StatusOr<AddedVocabulary> AddedVocabulary::FromJson(
    const nlohmann::json& list, absl::string_view path) {
  AddedVocabulary vocabulary;
  if (list.is_null()) return vocabulary;
  if (!list.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " must be a list"));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string entry_path = absl::StrCat(path, "[", i, "]");
    ASSIGN_OR_RETURN(AddedToken token, ParseAddedToken(list[i], entry_path));
    if (!vocabulary.index_by_id_.emplace(token.id, vocabulary.tokens_.size())
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat(entry_path, ": id ", token.id, " is used twice"));
    }
    vocabulary.id_by_content_.emplace(token.content, token.id);
    vocabulary.matchers_.push_back(
        Matcher{token.content, vocabulary.tokens_.size(),
                token.normalized ? Pass::kNormalized : Pass::kRaw});
    vocabulary.tokens_.push_back(std::move(token));
  }
  vocabulary.IndexMatchers();
  return vocabulary;
}

void AddedVocabulary::IndexMatchers() {
  for (auto& bucket : by_first_byte_) bucket.clear();
  for (size_t i = 0; i < matchers_.size(); ++i) {
    if (matchers_[i].text.empty()) continue;
    by_first_byte_[static_cast<uint8_t>(matchers_[i].text[0])].push_back(i);
  }
  for (auto& bucket : by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](size_t a, size_t b) {
      return matchers_[a].text.size() > matchers_[b].text.size();
    });
  }
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  const auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::FindByContent(
    std::string_view content) const {
  const auto it =
      id_by_content_.find(absl::string_view(content.data(), content.size()));
  if (it == id_by_content_.end()) return std::nullopt;
  return it->second;
}

std::optional<AddedVocabulary::Match> AddedVocabulary::FindFrom(
    std::string_view text, size_t from, Pass pass) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    for (size_t index : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      const Matcher& matcher = matchers_[index];
      if (matcher.pass == pass &&
          text.substr(pos, matcher.text.size()) == matcher.text) {
        return Match{pos, pos + matcher.text.size(), &tokens_[matcher.token]};
      }
    }
  }
  return std::nullopt;
}

std::vector<TextSegment> AddedVocabulary::Split(std::string_view text,
                                                Pass pass) const {
  std::vector<TextSegment> segments;
  size_t segment_start = 0;  // End of the last accepted match.
  size_t search_from = 0;
  while (std::optional<Match> match = FindFrom(text, search_from, pass)) {
    size_t begin = match->begin;
    size_t end = match->end;
    search_from = end;
    const AddedToken& token = *match->token;
    if (token.single_word && (EndsWithWordChar(text.substr(0, begin)) ||
                              StartsWithWordChar(text.substr(end)))) {
      continue;  // Part of a longer word.
    }
    if (token.lstrip) {
      begin = std::max(unicode::TrailingWhiteSpaceStart(text.substr(0, begin)),
                       segment_start);
    }
    if (token.rstrip) {
      end += unicode::LeadingWhiteSpaceLength(text.substr(end));
      search_from = end;
    }
    if (segment_start < begin) {
      segments.push_back(
          {std::string(text.substr(segment_start, begin - segment_start)),
           std::nullopt});
    }
    segments.push_back(
        {std::string(text.substr(begin, end - begin)), token.id});
    segment_start = end;
  }
  if (segment_start < text.size()) {
    segments.push_back({std::string(text.substr(segment_start)), std::nullopt});
  }
  return segments;
}

}  // namespace loraplex::engine
