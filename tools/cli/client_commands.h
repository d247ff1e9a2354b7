// The client commands of `loraplex` (they talk to a loraplex-server over
// gRPC) and keygen. Each takes the words after its command name and returns
// the exit status (cli_command.h): 0 success, 1 the call or a local step
// failed (one line `error: <GRPC_CODE>: <message>` on `err`), 2 bad usage.
// This header includes no gRPC header, so main.cc stays free of them.
#ifndef LORAPLEX_TOOLS_CLI_CLIENT_COMMANDS_H_
#define LORAPLEX_TOOLS_CLI_CLIENT_COMMANDS_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace loraplex::cli {

// `loraplex generate [flags] PROMPT...` (generate_command.cc).
int RunGenerateCommand(const std::vector<std::string>& args, std::istream& in,
                       std::ostream& out, std::ostream& err);
// `loraplex adapters upload|list|get|delete|load ...` (adapter_commands.cc).
int RunAdaptersCommand(const std::vector<std::string>& args, std::istream& in,
                       std::ostream& out, std::ostream& err);
// `loraplex health [--service NAME]` (health_command.cc).
int RunHealthCommand(const std::vector<std::string>& args, std::istream& in,
                     std::ostream& out, std::ostream& err);
// `loraplex keygen --tenant NAME [--role tenant|admin]` (keygen_command.cc);
// needs no server.
int RunKeygenCommand(const std::vector<std::string>& args, std::istream& in,
                     std::ostream& out, std::ostream& err);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_CLIENT_COMMANDS_H_
