// `loraplex-train`: trains the tokenizer, base model and LoRA adapters that
// Loraplex serves, and measures perplexity through the engine.
#include <iostream>
#include <string>
#include <vector>

#include "tools/train/train_commands.h"

namespace {

constexpr char kUsage[] =
    "Usage: loraplex-train COMMAND [flags]\n"
    "\n"
    "  tokenizer  train a byte-level BPE tokenizer (tokenizer.json)\n"
    "  base       train a Llama-architecture base model from scratch\n"
    "  lora       train a LoRA adapter (PEFT format) on a frozen base\n"
    "  eval       perplexity of a model (+ adapter) on text, via the engine\n"
    "  compress   rewrite a LoRA adapter at a lower rank (truncated SVD)\n"
    "  extract    a LoRA adapter from a fully fine-tuned model (truncated "
    "SVD)\n"
    "\n"
    "Run 'loraplex-train COMMAND --help' for a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" ||
      args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  namespace train = loraplex::train_cli;
  if (command == "tokenizer") {
    return train::RunTokenizerCommand(args, std::cout, std::cerr);
  }
  if (command == "base")
    return train::RunBaseCommand(args, std::cout, std::cerr);
  if (command == "lora")
    return train::RunLoraCommand(args, std::cout, std::cerr);
  if (command == "eval")
    return train::RunEvalCommand(args, std::cout, std::cerr);
  if (command == "compress")
    return train::RunCompressCommand(args, std::cout, std::cerr);
  if (command == "extract")
    return train::RunExtractCommand(args, std::cout, std::cerr);
  if (command == "rank-sweep")
    return train::RunRankSweepCommand(args, std::cout, std::cerr);
  std::cerr << "loraplex-train: unknown command '" << command << "'\n\n"
            << kUsage;
  return 2;
}
