// Builds without the gRPC service (LORAPLEX_BUILD_SERVICE=OFF) have only the
// offline commands.
#include "tools/cli/cli_command.h"

namespace loraplex::cli {

std::vector<CliCommand> ClientCommands() { return {}; }

}  // namespace loraplex::cli
