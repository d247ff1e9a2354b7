#include "tools/cli/chat_template_command.h"

#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/chat_template/chat_template.h"
#include "engine/common/bounded_json.h"
#include "nlohmann/json.hpp"
#include "tools/cli/cli_command.h"
#include "tools/cli/command_line.h"

namespace loraplex::cli {
namespace {

// ordered_json: `tojson` prints keys in the order the line gives them.
using Json = nlohmann::ordered_json;

// A line is one conversation; tool lists and long histories stay far below.
constexpr engine::JsonLimits kLineLimits{/*max_bytes=*/16 << 20,
                                         /*max_depth=*/64};

int UsageError(std::ostream& err, const absl::Status& status) {
  err << "loraplex chat-template: " << status.message()
      << "\n(run 'loraplex chat-template --help' for usage)\n";
  return kExitUsage;
}

// ISO 8601: with an offset ("2024-07-26T12:00:00+02:00", "...Z") it is that
// instant; without one it is local time, as Python's naive datetime.now().
absl::StatusOr<absl::Time> ParseNow(const std::string& text) {
  absl::Time t;
  std::string ignored;
  if (absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", text, &t, &ignored) ||
      absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", text, absl::LocalTimeZone(), &t,
                      &ignored)) {
    return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'now' must be an ISO 8601 time such as 2024-07-26T12:00:00, got '", text,
      "'"));
}

// The fields of one input line; anything else is refused, so a misspelt
// field never passes silently.
absl::StatusOr<chat::ChatTemplateInputs> ParseInputs(const std::string& line) {
  absl::StatusOr<Json> parsed =
      engine::ParseBoundedJson<Json>(line, "input", kLineLimits);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError("expected a JSON object");
  }
  chat::ChatTemplateInputs inputs;
  bool has_messages = false;
  for (auto& [key, value] : parsed->items()) {
    if (key == "messages") {
      if (!value.is_array()) {
        return absl::InvalidArgumentError("'messages' must be an array");
      }
      inputs.messages = std::move(value);
      has_messages = true;
    } else if (key == "add_generation_prompt") {
      if (!value.is_boolean()) {
        return absl::InvalidArgumentError(
            "'add_generation_prompt' must be true or false");
      }
      inputs.add_generation_prompt = value.get<bool>();
    } else if (key == "tools") {
      if (!value.is_null() && !value.is_array()) {
        return absl::InvalidArgumentError("'tools' must be an array or null");
      }
      inputs.tools = std::move(value);
    } else if (key == "kwargs") {
      if (!value.is_null() && !value.is_object()) {
        return absl::InvalidArgumentError("'kwargs' must be an object or null");
      }
      inputs.extra_kwargs = std::move(value);
    } else if (key == "now") {
      if (!value.is_string()) {
        return absl::InvalidArgumentError("'now' must be a string");
      }
      absl::StatusOr<absl::Time> now = ParseNow(value.get<std::string>());
      if (!now.ok()) return now.status();
      inputs.now = *now;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", key,
          "' (expected messages, add_generation_prompt, tools, kwargs, now)"));
    }
  }
  if (!has_messages) {
    return absl::InvalidArgumentError("'messages' is required");
  }
  return inputs;
}

}  // namespace

int RunChatTemplateCommand(const std::vector<std::string>& args,
                           std::istream& in, std::ostream& out,
                           std::ostream& err) {
  const std::vector<FlagSpec> specs = {
      ValueFlag("model",
                "model directory (tokenizer_config.json and/or "
                "chat_template.jinja)"),
      ValueFlag("tokenizer-config",
                "a tokenizer_config.json file (instead of --model)"),
      ValueFlag("chat-template",
                "a Jinja template file that replaces the model's, as "
                "loraplex-server --chat-template"),
      SwitchFlag("help", "show this help"),
  };
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status());
  if (cl->Has("help")) {
    out << FormatHelp(
        "loraplex chat-template (--model DIR | --tokenizer-config FILE) "
        "[--chat-template FILE] < conversations.jsonl",
        "Renders each conversation with the model's chat template, as "
        "transformers' apply_chat_template(tokenize=False)\nand the server's "
        "/v1/chat/completions do. Offline: no server, no tokenizer.\n"
        "Input: {\"messages\": [...], \"add_generation_prompt\"?: bool, "
        "\"tools\"?: [...], \"kwargs\"?: {...}, \"now\"?: \"ISO 8601\"}\n"
        "(kwargs are extra template variables; now is the clock "
        "strftime_now reads).\nOutput: {\"text\": ...} or {\"error\": ...} "
        "per line, in order.\nExit status: 0 all rendered, 1 a line failed "
        "or the template could not be loaded, 2 bad usage.",
        specs);
    return kExitOk;
  }
  if (!cl->positional().empty()) {
    return UsageError(err,
                      absl::InvalidArgumentError(absl::StrCat(
                          "unexpected argument '", cl->positional()[0], "'")));
  }
  const std::string model = cl->Get("model");
  const std::string config = cl->Get("tokenizer-config");
  if (model.empty() == config.empty()) {
    return UsageError(
        err, absl::InvalidArgumentError("give exactly one of --model DIR and "
                                        "--tokenizer-config FILE"));
  }
  absl::StatusOr<std::unique_ptr<chat::ChatTemplate>> tmpl =
      model.empty()
          ? chat::LoadChatTemplateFromConfig(config, cl->Get("chat-template"))
          : chat::LoadChatTemplate(model, cl->Get("chat-template"));
  if (!tmpl.ok()) {
    err << "loraplex chat-template: " << tmpl.status().message() << "\n";
    return kExitFailure;
  }

  int exit_code = kExitOk;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json result;
    absl::StatusOr<chat::ChatTemplateInputs> inputs = ParseInputs(line);
    if (!inputs.ok()) {
      result["error"] =
          absl::StrCat("line ", line_no, ": ", inputs.status().message());
    } else {
      // Render errors are the template's own (raise_exception's message
      // exactly) or name the template line.
      absl::StatusOr<std::string> text = (*tmpl)->Render(*inputs);
      if (text.ok()) {
        result["text"] = *std::move(text);
      } else {
        result["error"] = std::string(text.status().message());
      }
    }
    if (result.contains("error")) exit_code = kExitFailure;
    // The text is UTF-8 (JSON strings in, code-point string operations);
    // `replace` only guarantees that a bad byte can never abort the tool.
    out << result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  }
  out.flush();
  return exit_code;
}

}  // namespace loraplex::cli
