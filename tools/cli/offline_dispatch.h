// The offline commands that run the engine (`batch`, `tokenize`) live in a
// second executable, `loraplex-offline`, so that `loraplex` itself never
// loads LibTorch: a client command such as `loraplex health` starts in
// milliseconds instead of spending half a second of CPU loading libraries it
// does not use. `loraplex batch ...` replaces its own process with
// `loraplex-offline batch ...` from the directory of the running `loraplex`
// (the build tree's tools/cli/, or the staged bin/).
#ifndef LORAPLEX_TOOLS_CLI_OFFLINE_DISPATCH_H_
#define LORAPLEX_TOOLS_CLI_OFFLINE_DISPATCH_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace loraplex::cli {

// The executable beside `loraplex` that runs the engine commands.
inline constexpr char kOfflineToolName[] = "loraplex-offline";

// CommandFns (cli_command.h) for `loraplex batch` and `loraplex tokenize`:
// each execs `loraplex-offline <command> <args...>` with the process's own
// standard streams, so it returns only when that fails (exit status 1,
// with the reason on `err`). `in` and `out` are unused: the offline tool
// reads and writes the inherited descriptors.
int RunBatchInOfflineTool(const std::vector<std::string>& args,
                          std::istream& in, std::ostream& out,
                          std::ostream& err);
int RunTokenizeInOfflineTool(const std::vector<std::string>& args,
                             std::istream& in, std::ostream& out,
                             std::ostream& err);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_OFFLINE_DISPATCH_H_
