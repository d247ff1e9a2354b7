// Hugging Face chat templates, rendered as transformers'
// apply_chat_template(tokenize=False) renders them: a small, strict Jinja2
// interpreter (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
// loopcontrols, the {% generation %} tag, transformers' tojson,
// raise_exception and strftime_now). Torch-free and protobuf-free.
//
// What the interpreter supports and refuses is listed in
// engine/chat_template/README.md; a template that uses anything else fails
// in Parse(), naming the construct and its line.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/chat_template/render_limits.h"
#include "nlohmann/json.hpp"

namespace loraplex::chat {

struct ParsedTemplate;

struct ChatTemplateInputs {
  // ordered_json: `tojson` prints keys in the order the client sent them
  // (json.dumps keeps dict insertion order).
  nlohmann::ordered_json messages;  // Array of message objects.
  nlohmann::ordered_json tools;     // Array of tool dicts, or null (None).
  bool add_generation_prompt = false;
  // Object of extra template variables (may be null or empty); they
  // override bos_token/eos_token.
  nlohmann::ordered_json extra_kwargs;
  // The clock strftime_now() reads, formatted in the local time zone;
  // nullopt = absl::Now().
  std::optional<absl::Time> now;
};

class ChatTemplate {
 public:
  // Parses and checks `source`. INVALID_ARGUMENT "line N: ..." for a syntax
  // error or a construct the interpreter lacks ("line 3: filter 'xmlattr'
  // is not supported"). A bos/eos token that is nullopt is undefined in the
  // template (as transformers leaves a null special token out).
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Parse(
      std::string source, std::optional<std::string> bos_token,
      std::optional<std::string> eos_token, RenderLimits limits = {});

  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = delete;
  ChatTemplate& operator=(const ChatTemplate&) = delete;

  // Renders the conversation. The template's raise_exception(msg) is
  // INVALID_ARGUMENT with exactly `msg` as the message; every other render
  // error (a type error, an undefined value used, a limit of RenderLimits
  // passed) is INVALID_ARGUMENT "line N: ...". Thread-safe: const, no
  // shared mutable state; each call builds its own values.
  absl::StatusOr<std::string> Render(const ChatTemplateInputs& inputs) const;

  // Whether the template reads the `tools` variable (so a request with
  // tools for a template that ignores them can be refused).
  bool reads_tools() const;

 private:
  ChatTemplate(std::unique_ptr<ParsedTemplate> parsed,
               std::optional<std::string> bos_token,
               std::optional<std::string> eos_token, RenderLimits limits);

  std::unique_ptr<ParsedTemplate> parsed_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
  RenderLimits limits_;
};

// The chat template of a Hugging Face model directory, found as transformers
// finds it: a chat_template.jinja file (which, as in transformers, takes
// priority), else tokenizer_config.json's "chat_template" (a string, or a
// list of {"name", "template"} of which "default" is used). bos/eos tokens
// come from tokenizer_config.json (strings or {"content": ...} objects; null
// or absent = undefined). A non-empty `override_file` replaces the template
// text. NOT_FOUND when the model has no template; INVALID_ARGUMENT for a
// malformed tokenizer_config.json or a template Parse() refuses. Meant for
// server start: messages name the files read.
absl::StatusOr<std::unique_ptr<ChatTemplate>> LoadChatTemplate(
    const std::string& model_dir, const std::string& override_file);

// As LoadChatTemplate, from a tokenizer_config.json path directly (its
// folder is where chat_template.jinja is looked for).
absl::StatusOr<std::unique_ptr<ChatTemplate>> LoadChatTemplateFromConfig(
    const std::string& tokenizer_config_path, const std::string& override_file);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
