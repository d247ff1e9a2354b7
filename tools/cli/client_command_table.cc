// The client commands, for builds with the gRPC service
// (LORAPLEX_BUILD_SERVICE=ON); no_client_commands.cc stands in otherwise.
#include "tools/cli/cli_command.h"
#include "tools/cli/client_commands.h"

namespace loraplex::cli {

std::vector<CliCommand> ClientCommands() {
  return {
      {"generate", "generate text with the base model or an adapter",
       &RunGenerateCommand},
      {"adapters", "upload, list, get, delete or load adapters",
       &RunAdaptersCommand},
      {"health", "check that the server is serving", &RunHealthCommand},
      {"keygen", "make an API key and its --api-keys file line",
       &RunKeygenCommand},
  };
}

}  // namespace loraplex::cli
