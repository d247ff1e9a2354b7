// `loraplex`: the command-line tool. Client commands talk to a
// loraplex-server over gRPC; offline commands that run the engine (batch,
// tokenize) are exec'd in `loraplex-offline` (offline_dispatch.h), so that
// this binary never loads LibTorch. This file includes neither LibTorch nor
// gRPC headers: each command lives in its own translation unit (the seam
// rule).
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tools/cli/chat_template_command.h"
#include "tools/cli/cli_command.h"
#include "tools/cli/offline_dispatch.h"

namespace {

using loraplex::cli::CliCommand;

std::vector<CliCommand> OfflineCommands() {
  return {
      {"batch", "run a JSON Lines workload of generate requests in-process",
       &loraplex::cli::RunBatchInOfflineTool},
      {"tokenize", "turn {\"text\"} lines into {\"ids\"} lines",
       &loraplex::cli::RunTokenizeInOfflineTool},
      {"chat-template",
       "render {\"messages\"} lines with the model's chat template",
       &loraplex::cli::RunChatTemplateCommand},
  };
}

void PrintUsage(std::ostream& out, const std::vector<CliCommand>& offline,
                const std::vector<CliCommand>& client) {
  out << "Usage: loraplex [global flags] COMMAND [flags]\n";
  const auto list = [&out](const char* title,
                           const std::vector<CliCommand>& commands) {
    if (commands.empty()) return;
    out << "\n" << title << ":\n";
    for (const CliCommand& command : commands) {
      std::string name = command.name;
      name.resize(std::max<size_t>(name.size(), 13), ' ');
      out << "  " << name << " " << command.summary << "\n";
    }
  };
  list("Client (talk to a loraplex-server)", client);
  list("Offline (no server)", offline);
  if (!client.empty()) {
    out << "\nGlobal flags of the client commands (before or after COMMAND):\n"
           "  --server HOST:PORT  (env LORAPLEX_SERVER; default "
           "localhost:50051)\n"
           "  --api-key KEY       (env LORAPLEX_API_KEY)\n"
           "  --timeout SECONDS   deadline of each call\n"
           "  --json              machine-readable output\n";
  }
  out << "\nRun 'loraplex COMMAND --help' for a command's flags.\n";
}

// Global flags may come before the command ("loraplex --json health"): they
// move behind the command name, where the command's own parser reads them.
bool IsGlobalValueFlag(const std::string& arg) {
  return arg == "--server" || arg == "--api-key" || arg == "--timeout";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<CliCommand> offline = OfflineCommands();
  const std::vector<CliCommand> client = loraplex::cli::ClientCommands();
  std::vector<std::string> words(argv + 1, argv + argc);
  std::vector<std::string> leading_flags;
  size_t i = 0;
  while (i < words.size() && absl::StartsWith(words[i], "--") &&
         words[i] != "--help") {
    leading_flags.push_back(words[i]);
    if (IsGlobalValueFlag(words[i]) && i + 1 < words.size()) {
      leading_flags.push_back(words[++i]);
    }
    ++i;
  }
  if (i >= words.size() || words[i] == "--help" || words[i] == "-h" ||
      words[i] == "help") {
    PrintUsage(std::cout, offline, client);
    return i >= words.size() ? loraplex::cli::kExitUsage
                             : loraplex::cli::kExitOk;
  }
  const std::string name = words[i];
  std::vector<std::string> args = leading_flags;
  args.insert(args.end(), words.begin() + static_cast<long>(i) + 1,
              words.end());
  for (const auto* commands : {&client, &offline}) {
    for (const CliCommand& command : *commands) {
      if (name == command.name) {
        return command.run(args, std::cin, std::cout, std::cerr);
      }
    }
  }
  std::cerr << "loraplex: unknown command '" << name << "'\n\n";
  PrintUsage(std::cerr, offline, client);
  return loraplex::cli::kExitUsage;
}
