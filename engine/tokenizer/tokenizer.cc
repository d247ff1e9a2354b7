#include "engine/tokenizer/tokenizer.h"

#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "engine/common/read_text_file.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/sentencepiece_tokenizer.h"
#include "engine/tokenizer/tokenizer_config.h"

namespace loraplex::engine {
namespace {

bool IsFile(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);
}

absl::StatusOr<TokenizerConfig> ReadConfig(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/tokenizer_config.json");
  if (!IsFile(path)) return TokenizerConfig();
  ASSIGN_OR_RETURN(std::string text,
                   ReadTextFile(path, kTokenizerConfigJsonLimits.max_bytes));
  return ParseTokenizerConfig(text);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(
    const std::string& dir) {
  const std::string json_path = absl::StrCat(dir, "/tokenizer.json");
  const std::string model_path = absl::StrCat(dir, "/tokenizer.model");
  const bool has_json = IsFile(json_path);
  const bool has_model = IsFile(model_path);
  if (!has_json && !has_model) {
    return absl::NotFoundError(
        absl::StrCat("no tokenizer.json or tokenizer.model in ", dir));
  }
  ASSIGN_OR_RETURN(TokenizerConfig config, ReadConfig(dir));
  absl::Status json_status;
  if (has_json) {
    ASSIGN_OR_RETURN(std::string json,
                     ReadTextFile(json_path, kTokenizerJsonLimits.max_bytes));
    absl::StatusOr<std::unique_ptr<HfTokenizer>> tokenizer =
        HfTokenizer::Create(json, config);
    if (tokenizer.ok())
      return std::unique_ptr<Tokenizer>(*std::move(tokenizer));
    json_status = tokenizer.status();
    if (!has_model) return json_status;
    LogWarning("%s: %s; using tokenizer.model instead", json_path,
               json_status.message());
  }
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      SentencePieceTokenizer::Create(model_path, config);
  if (!tokenizer.ok()) {
    if (json_status.ok()) return tokenizer.status();
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat(json_path, ": ", json_status.message(),
                                     "; ", tokenizer.status().message()));
  }
  return std::unique_ptr<Tokenizer>(*std::move(tokenizer));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromHfJson(
    std::string_view tokenizer_json) {
  ASSIGN_OR_RETURN(std::unique_ptr<HfTokenizer> tokenizer,
                   HfTokenizer::Create(tokenizer_json, TokenizerConfig()));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromSentencePieceFile(
    const std::string& model_path) {
  if (!IsFile(model_path)) {
    return absl::NotFoundError(
        absl::StrCat("no SentencePiece model at ", model_path));
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<SentencePieceTokenizer> tokenizer,
      SentencePieceTokenizer::Create(model_path, TokenizerConfig()));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace loraplex::engine
