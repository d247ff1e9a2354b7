#include "engine/tokenizer/post_processor.h"

#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/json_fields.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

// The ids of special token `name` in TemplateProcessing's special_tokens.
absl::StatusOr<std::vector<int32_t>> SpecialTokenIds(
    const nlohmann::json& config, const std::string& name,
    absl::string_view path) {
  const nlohmann::json* tokens =
      json_fields::Optional(config, "special_tokens");
  const nlohmann::json* token =
      tokens != nullptr ? json_fields::Optional(*tokens, name) : nullptr;
  if (token == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".special_tokens has no entry for \"", name, "\""));
  }
  ASSIGN_OR_RETURN(const nlohmann::json* ids,
                   json_fields::Required(
                       *token, "ids",
                       absl::StrCat(path, ".special_tokens[\"", name, "\"]")));
  std::vector<int32_t> out;
  if (ids->is_array()) {
    for (const nlohmann::json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() >= std::numeric_limits<int32_t>::max()) {
        out.clear();
        break;
      }
      out.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".special_tokens[\"", name,
                     "\"].ids must be a non-empty list of ids"));
  }
  return out;
}

absl::StatusOr<SpecialTokenFrame> ParseTemplate(const nlohmann::json& config,
                                                absl::string_view path) {
  ASSIGN_OR_RETURN(const nlohmann::json* single,
                   json_fields::Required(config, "single", path));
  if (!single->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".single must be a list"));
  }
  SpecialTokenFrame frame;
  int sequences = 0;
  for (size_t i = 0; i < single->size(); ++i) {
    const nlohmann::json& piece = (*single)[i];
    const std::string piece_path = absl::StrCat(path, ".single[", i, "]");
    if (const nlohmann::json* special =
            json_fields::Optional(piece, "SpecialToken")) {
      ASSIGN_OR_RETURN(std::string name,
                       json_fields::RequiredString(*special, "id", piece_path));
      ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                       SpecialTokenIds(config, name, path));
      std::vector<int32_t>& target =
          sequences == 0 ? frame.prefix : frame.suffix;
      target.insert(target.end(), ids.begin(), ids.end());
    } else if (const nlohmann::json* sequence =
                   json_fields::Optional(piece, "Sequence")) {
      ASSIGN_OR_RETURN(std::string id, json_fields::RequiredString(
                                           *sequence, "id", piece_path));
      if (id != "A") {
        return absl::InvalidArgumentError(
            absl::StrCat(piece_path, ": sequence \"", id,
                         "\" in a single-sequence template"));
      }
      ++sequences;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          piece_path,
          " must be {\"SpecialToken\": ...} or {\"Sequence\": ...}"));
    }
  }
  if (sequences != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".single must contain the sequence $A exactly once"));
  }
  return frame;
}

}  // namespace

absl::StatusOr<SpecialTokenFrame> ParsePostProcessor(
    const nlohmann::json& config, absl::string_view path) {
  if (config.is_null()) return SpecialTokenFrame();
  ASSIGN_OR_RETURN(std::string type,
                   json_fields::RequiredString(config, "type", path));
  if (type == "TemplateProcessing") return ParseTemplate(config, path);
  if (type == "ByteLevel") return SpecialTokenFrame();
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const nlohmann::json* list,
                     json_fields::Required(config, "processors", path));
    if (!list->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".processors must be a list"));
    }
    // Each processor wraps what the ones before it produced.
    SpecialTokenFrame frame;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(
          SpecialTokenFrame step,
          ParsePostProcessor((*list)[i],
                             absl::StrCat(path, ".processors[", i, "]")));
      frame.prefix.insert(frame.prefix.begin(), step.prefix.begin(),
                          step.prefix.end());
      frame.suffix.insert(frame.suffix.end(), step.suffix.begin(),
                          step.suffix.end());
    }
    return frame;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, " type \"", type,
                   "\" is not supported (supported: TemplateProcessing, "
                   "ByteLevel, Sequence)"));
}

}  // namespace loraplex::engine
