// `loraplex-offline`: the engine commands of `loraplex` (batch, tokenize),
// which load LibTorch. `loraplex batch|tokenize ...` runs this executable
// (offline_dispatch.h); it can also be run directly with the same words.
#include <iostream>
#include <string>
#include <vector>

#include "tools/cli/cli_command.h"
#include "tools/cli/engine_commands.h"

int main(int argc, char** argv) {
  const std::vector<loraplex::cli::CliCommand> commands = {
      {"batch", "run a JSON Lines workload of generate requests in-process",
       &loraplex::cli::RunBatchCommand},
      {"tokenize", "turn {\"text\"} lines into {\"ids\"} lines",
       &loraplex::cli::RunTokenizeCommand},
  };
  const std::vector<std::string> words(argv + 1, argv + argc);
  if (!words.empty()) {
    for (const loraplex::cli::CliCommand& command : commands) {
      if (words[0] == command.name) {
        const std::vector<std::string> args(words.begin() + 1, words.end());
        return command.run(args, std::cin, std::cout, std::cerr);
      }
    }
  }
  const bool help = !words.empty() && (words[0] == "--help" ||
                                       words[0] == "-h" || words[0] == "help");
  std::ostream& out = help ? std::cout : std::cerr;
  out << "Usage: loraplex-offline COMMAND [flags] (run by `loraplex "
         "COMMAND`)\n\nCommands:\n";
  for (const loraplex::cli::CliCommand& command : commands) {
    out << "  " << command.name << "  " << command.summary << "\n";
  }
  return help ? loraplex::cli::kExitOk : loraplex::cli::kExitUsage;
}
