// Flags every client command shares (--server, --api-key, --timeout, --json,
// --help) and the helpers the client commands use to report results the same
// way: `error: <CODE>: <message>` on one line of stderr and a non-zero exit.
#ifndef LORAPLEX_TOOLS_CLI_CLIENT_FLAGS_H_
#define LORAPLEX_TOOLS_CLI_CLIENT_FLAGS_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/cli/command_line.h"
#include "tools/client/connection.h"

namespace loraplex::cli {

// Environment variables read when the flag is not given.
inline constexpr char kServerEnv[] = "LORAPLEX_SERVER";
inline constexpr char kApiKeyEnv[] = "LORAPLEX_API_KEY";

// The shared flags, to append to a command's own specs.
std::vector<FlagSpec> ClientFlagSpecs();

// Flag, else environment variable, else default. INVALID_ARGUMENT for a
// --timeout that is not a positive number of seconds.
absl::StatusOr<tools::ConnectionOptions> ConnectionOptionsFrom(
    const CommandLine& command_line);

// Whether the command should print JSON (--json).
bool WantsJson(const CommandLine& command_line);
// Whether a switch was given as true ("--x" or "--x=true").
bool SwitchOn(const CommandLine& command_line, const std::string& name);

// Prints "loraplex <command>: <message>" and the --help hint; returns
// kExitUsage.
int UsageError(std::ostream& err, const std::string& command,
               const absl::Status& status);
// Prints FormatErrorLine(status); returns kExitFailure.
int ReportError(std::ostream& err, const absl::Status& status);

// Whether standard error is a terminal (progress bars, summaries).
bool StderrIsTerminal();

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_CLIENT_FLAGS_H_
