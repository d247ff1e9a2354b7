#include "engine/chat_template/chat_template.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/lexer.h"
#include "engine/chat_template/parser.h"
#include "engine/chat_template/renderer.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {
namespace {

// Templates are a few kilobytes; the largest popular ones are ~20 KB.
constexpr size_t kMaxTemplateBytes = 1 << 20;

absl::StatusOr<Value> InputValue(const nlohmann::ordered_json& json,
                                 absl::string_view what) {
  absl::StatusOr<Value> v = ValueFromJson(json);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", v.status().message()));
  }
  return v;
}

}  // namespace

ChatTemplate::ChatTemplate(std::unique_ptr<ParsedTemplate> parsed,
                           std::optional<std::string> bos_token,
                           std::optional<std::string> eos_token,
                           RenderLimits limits)
    : parsed_(std::move(parsed)),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)),
      limits_(limits) {}

ChatTemplate::~ChatTemplate() = default;

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Parse(
    std::string source, std::optional<std::string> bos_token,
    std::optional<std::string> eos_token, RenderLimits limits) {
  if (source.size() > kMaxTemplateBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chat template longer than ", kMaxTemplateBytes, " bytes"));
  }
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  ASSIGN_OR_RETURN(ParsedTemplate parsed, ParseTemplate(std::move(tokens)));
  return std::unique_ptr<ChatTemplate>(
      new ChatTemplate(std::make_unique<ParsedTemplate>(std::move(parsed)),
                       std::move(bos_token), std::move(eos_token), limits));
}

bool ChatTemplate::reads_tools() const { return parsed_->reads_tools; }

absl::StatusOr<std::string> ChatTemplate::Render(
    const ChatTemplateInputs& inputs) const {
  if (!inputs.messages.is_array()) {
    return absl::InvalidArgumentError("messages must be a list");
  }
  if (!inputs.tools.is_null() && !inputs.tools.is_array()) {
    return absl::InvalidArgumentError("tools must be a list or null");
  }
  if (!inputs.extra_kwargs.is_null() && !inputs.extra_kwargs.is_object()) {
    return absl::InvalidArgumentError("kwargs must be an object");
  }
  Renderer::Frame context;
  ASSIGN_OR_RETURN(context["messages"],
                   InputValue(inputs.messages, "messages"));
  ASSIGN_OR_RETURN(context["tools"], InputValue(inputs.tools, "tools"));
  context["documents"] = Value::None();
  context["add_generation_prompt"] = Value::Bool(inputs.add_generation_prompt);
  if (bos_token_) context["bos_token"] = Value::String(*bos_token_);
  if (eos_token_) context["eos_token"] = Value::String(*eos_token_);
  if (inputs.extra_kwargs.is_object()) {
    for (const auto& [key, json] : inputs.extra_kwargs.items()) {
      if (key == "messages" || key == "tools" || key == "documents" ||
          key == "add_generation_prompt") {
        return absl::InvalidArgumentError(
            absl::StrCat("kwargs may not set '", key, "'"));
      }
      ASSIGN_OR_RETURN(context[key], InputValue(json, key));
    }
  }
  Renderer renderer(limits_, inputs.now.value_or(absl::Now()),
                    std::move(context));
  absl::StatusOr<std::string> text = renderer.Render(parsed_->body);
  // Note [raise_exception] in renderer.h.
  if (absl::IsAborted(text.status())) {
    return absl::InvalidArgumentError(text.status().message());
  }
  return text;
}

}  // namespace loraplex::chat
