// The `loraplex-train` subcommands: flags -> engine/train options, in one
// place. Each returns the process exit status: 0 success, 1 the work
// failed, 2 bad usage.
#ifndef LORAPLEX_TOOLS_TRAIN_TRAIN_COMMANDS_H_
#define LORAPLEX_TOOLS_TRAIN_TRAIN_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

namespace loraplex::train_cli {

// `args` are the words after the subcommand. Progress goes to stderr;
// results (reports) to `out`, problems to `err`.
int RunTokenizerCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err);
int RunBaseCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);
int RunLoraCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);
int RunEvalCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);
// `compress`: engine/train/adapter_compression.h.
int RunCompressCommand(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err);
// `extract`: engine/train/adapter_extraction.h.
int RunExtractCommand(const std::vector<std::string>& args, std::ostream& out,
                      std::ostream& err);
// `rank-sweep`: engine/train/rank_sweep.h.
int RunRankSweepCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err);

}  // namespace loraplex::train_cli

#endif  // LORAPLEX_TOOLS_TRAIN_TRAIN_COMMANDS_H_
