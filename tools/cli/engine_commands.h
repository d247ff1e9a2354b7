// `loraplex batch` and `loraplex tokenize`: offline commands that run the
// engine in-process (no server). Torch-free: they use engine/engine.h only.
#ifndef LORAPLEX_TOOLS_CLI_ENGINE_COMMANDS_H_
#define LORAPLEX_TOOLS_CLI_ENGINE_COMMANDS_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace loraplex::cli {

// Each returns the process exit code: 0 success, 1 some request failed or
// the engine could not start, 2 bad usage.
int RunBatchCommand(const std::vector<std::string>& args, std::istream& in,
                    std::ostream& out, std::ostream& err);
int RunTokenizeCommand(const std::vector<std::string>& args, std::istream& in,
                       std::ostream& out, std::ostream& err);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_ENGINE_COMMANDS_H_
