// A small command-line parser for the `loraplex` subcommands: flags as
// `--name value` or `--name=value`, repeatable flags, boolean switches, and
// positional arguments. Unknown flags are errors, so typos never pass
// silently.
#ifndef LORAPLEX_TOOLS_CLI_COMMAND_LINE_H_
#define LORAPLEX_TOOLS_CLI_COMMAND_LINE_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loraplex::cli {

struct FlagSpec {
  std::string name;         // Without dashes: "model".
  std::string help;
  bool is_switch = false;   // Takes no value (--json).
  bool repeated = false;    // May be given several times (--adapter).
  std::string default_value;
};

// Spec builders, so call sites read as what they declare.
inline FlagSpec ValueFlag(std::string name, std::string help,
                          std::string default_value = "") {
  return FlagSpec{std::move(name), std::move(help), false, false,
                  std::move(default_value)};
}
inline FlagSpec SwitchFlag(std::string name, std::string help) {
  return FlagSpec{std::move(name), std::move(help), true, false, ""};
}
inline FlagSpec RepeatedFlag(std::string name, std::string help) {
  return FlagSpec{std::move(name), std::move(help), false, true, ""};
}

class CommandLine {
 public:
  // Parses `args` (the words after the subcommand) against `specs`.
  static absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args,
                                           const std::vector<FlagSpec>& specs);

  bool Has(const std::string& name) const;
  // The last value given, else the spec's default.
  std::string Get(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name) const;
  absl::StatusOr<double> GetDouble(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> defaults_;
  std::vector<std::string> positional_;
};

// "Usage: ...\n\nFlags:\n  --model DIR   help\n..." for --help output.
std::string FormatHelp(const std::string& usage, const std::string& summary,
                       const std::vector<FlagSpec>& specs);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_COMMAND_LINE_H_
