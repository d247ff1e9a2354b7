// `loraplex adapters upload NAME DIR`, called by RunAdaptersCommand with the
// words after "upload". Same exit statuses as every client command.
#ifndef LORAPLEX_TOOLS_CLI_UPLOAD_COMMAND_H_
#define LORAPLEX_TOOLS_CLI_UPLOAD_COMMAND_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace loraplex::cli {

int RunUploadSubcommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_UPLOAD_COMMAND_H_
