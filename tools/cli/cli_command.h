// The `loraplex` command table: every subcommand is a function from its
// words (after the command name) and the three standard streams to the
// process exit status.
#ifndef LORAPLEX_TOOLS_CLI_CLI_COMMAND_H_
#define LORAPLEX_TOOLS_CLI_CLI_COMMAND_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace loraplex::cli {

// Exit statuses shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // The server or a local step failed.
inline constexpr int kExitUsage = 2;    // Bad flags or arguments.

using CommandFn = int (*)(const std::vector<std::string>& args,
                          std::istream& in, std::ostream& out,
                          std::ostream& err);

struct CliCommand {
  const char* name;     // "generate".
  const char* summary;  // One line for `loraplex --help`.
  CommandFn run;
};

// The commands that talk to a loraplex-server (generate, adapters, health)
// and keygen. Empty when the tool is built without the gRPC service
// (LORAPLEX_BUILD_SERVICE=OFF).
std::vector<CliCommand> ClientCommands();

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_CLI_COMMAND_H_
