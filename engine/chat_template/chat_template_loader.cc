// LoadChatTemplate: where a Hugging Face model keeps its chat template.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/chat_template.h"
#include "engine/common/bounded_json.h"
#include "engine/common/read_text_file.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

using Json = nlohmann::ordered_json;

// tokenizer_config.json files reach a few megabytes when they list every
// added token; templates are far smaller.
constexpr engine::JsonLimits kTokenizerConfigLimits{/*max_bytes=*/16 << 20,
                                                    /*max_depth=*/64};
constexpr size_t kMaxTemplateFileBytes = 1 << 20;

// A special token: "text", {"content": "text", ...} (an AddedToken), or
// null/absent (nullopt).
absl::StatusOr<std::optional<std::string>> SpecialToken(const Json& config,
                                                        const char* name) {
  auto it = config.find(name);
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string())
    return std::optional<std::string>(it->get<std::string>());
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) {
      return std::optional<std::string>(content->get<std::string>());
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "tokenizer_config.json: '", name,
      "' must be a string, an object with a string 'content', or null"));
}

// "chat_template": a string, or [{"name", "template"}, ...] with "default".
absl::StatusOr<std::optional<std::string>> ConfigTemplate(const Json& config) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string())
    return std::optional<std::string>(it->get<std::string>());
  if (it->is_array()) {
    std::string names;
    for (const Json& entry : *it) {
      if (!entry.is_object() || !entry.contains("name") ||
          !entry["name"].is_string() || !entry.contains("template") ||
          !entry["template"].is_string()) {
        return absl::InvalidArgumentError(
            "tokenizer_config.json: each 'chat_template' entry needs string "
            "'name' and 'template'");
      }
      if (entry["name"] == "default") {
        return std::optional<std::string>(entry["template"].get<std::string>());
      }
      absl::StrAppend(&names, names.empty() ? "" : ", ",
                      entry["name"].get<std::string>());
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer_config.json: no chat template named 'default' (has: ", names,
        "); pass one with --chat-template"));
  }
  return absl::InvalidArgumentError(
      "tokenizer_config.json: 'chat_template' must be a string or a list");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChatTemplate>> LoadChatTemplateFromConfig(
    const std::string& tokenizer_config_path,
    const std::string& override_file) {
  namespace fs = std::filesystem;
  Json config = Json::object();
  std::error_code ec;
  if (fs::exists(tokenizer_config_path, ec)) {
    ASSIGN_OR_RETURN(config, engine::ReadBoundedJsonFile<Json>(
                                 tokenizer_config_path, "tokenizer_config.json",
                                 kTokenizerConfigLimits));
    if (!config.is_object()) {
      return absl::InvalidArgumentError(
          "tokenizer_config.json: expected a JSON object");
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> bos,
                   SpecialToken(config, "bos_token"));
  ASSIGN_OR_RETURN(std::optional<std::string> eos,
                   SpecialToken(config, "eos_token"));

  std::optional<std::string> source;
  std::string origin;
  const fs::path jinja_file =
      fs::path(tokenizer_config_path).parent_path() / "chat_template.jinja";
  if (!override_file.empty()) {
    ASSIGN_OR_RETURN(
        source, engine::ReadTextFile(override_file, kMaxTemplateFileBytes));
    origin = override_file;
  } else if (fs::exists(jinja_file, ec)) {
    ASSIGN_OR_RETURN(source, engine::ReadTextFile(jinja_file.string(),
                                                  kMaxTemplateFileBytes));
    origin = "chat_template.jinja";
  } else {
    ASSIGN_OR_RETURN(source, ConfigTemplate(config));
    origin = "tokenizer_config.json";
  }
  if (!source) {
    return absl::NotFoundError(
        "the model has no chat template (neither chat_template.jinja nor "
        "'chat_template' in tokenizer_config.json); pass one with "
        "--chat-template FILE");
  }
  absl::StatusOr<std::unique_ptr<ChatTemplate>> parsed =
      ChatTemplate::Parse(*std::move(source), std::move(bos), std::move(eos));
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat("chat template (", origin,
                                     "): ", parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<std::unique_ptr<ChatTemplate>> LoadChatTemplate(
    const std::string& model_dir, const std::string& override_file) {
  return LoadChatTemplateFromConfig(
      (std::filesystem::path(model_dir) / "tokenizer_config.json").string(),
      override_file);
}

}  // namespace loraplex::chat
