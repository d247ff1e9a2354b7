// `loraplex chat-template`: renders conversations with a model's Hugging Face
// chat template, offline (no server, no LibTorch, no tokenizer), as the
// server renders /v1/chat/completions prompts.
#ifndef LORAPLEX_TOOLS_CLI_CHAT_TEMPLATE_COMMAND_H_
#define LORAPLEX_TOOLS_CLI_CHAT_TEMPLATE_COMMAND_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace loraplex::cli {

// Reads JSON Lines {"messages", "add_generation_prompt"?, "tools"?,
// "kwargs"?, "now"?} from `in` and writes one {"text"} or {"error"} line per
// input line to `out`, in order. Returns the exit status: 0 every line
// rendered, 1 a line failed or the template could not be loaded, 2 bad
// usage.
int RunChatTemplateCommand(const std::vector<std::string>& args,
                           std::istream& in, std::ostream& out,
                           std::ostream& err);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_CHAT_TEMPLATE_COMMAND_H_
