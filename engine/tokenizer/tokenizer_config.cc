#include "engine/tokenizer/tokenizer_config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/json_fields.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

constexpr absl::string_view kFile = "tokenizer_config.json";

absl::StatusOr<std::optional<std::string>> TokenText(
    const nlohmann::json& config, absl::string_view key) {
  const nlohmann::json* value = json_fields::Optional(config, key);
  if (value == nullptr) return std::optional<std::string>();
  if (value->is_string())
    return std::optional<std::string>(value->get<std::string>());
  if (value->is_object()) {
    ASSIGN_OR_RETURN(std::string content,
                     json_fields::RequiredString(
                         *value, "content", json_fields::Join(kFile, key)));
    return std::optional<std::string>(std::move(content));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(json_fields::Join(kFile, key),
                   " must be a string or an object with \"content\""));
}

}  // namespace

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(
    std::string_view json_text) {
  ASSIGN_OR_RETURN(
      nlohmann::json json,
      json_fields::Parse(json_text, kFile, kTokenizerConfigJsonLimits));
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kFile, " must be a JSON object"));
  }
  const absl::string_view path = kFile;
  TokenizerConfig config;
  ASSIGN_OR_RETURN(config.add_bos_token,
                   json_fields::MaybeBool(json, "add_bos_token", path));
  ASSIGN_OR_RETURN(config.add_eos_token,
                   json_fields::MaybeBool(json, "add_eos_token", path));
  ASSIGN_OR_RETURN(config.bos_token, TokenText(json, "bos_token"));
  ASSIGN_OR_RETURN(config.eos_token, TokenText(json, "eos_token"));
  return config;
}

}  // namespace loraplex::engine
