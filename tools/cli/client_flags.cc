#include "tools/cli/client_flags.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "tools/cli/cli_command.h"

namespace loraplex::cli {

std::vector<FlagSpec> ClientFlagSpecs() {
  return {
      ValueFlag("server",
                absl::StrCat("HOST:PORT of the loraplex-server (env ",
                             kServerEnv, ")"),
                tools::kDefaultServer),
      ValueFlag("api-key", absl::StrCat("API key, sent as 'authorization: "
                                        "Bearer KEY' (env ",
                                        kApiKeyEnv, ")")),
      ValueFlag("timeout", "deadline of each call in seconds (none if unset)"),
      SwitchFlag("json", "machine-readable JSON output"),
      SwitchFlag("help", "show this help"),
  };
}

absl::StatusOr<tools::ConnectionOptions> ConnectionOptionsFrom(
    const CommandLine& command_line) {
  tools::ConnectionOptions options;
  const char* server_env = std::getenv(kServerEnv);
  if (command_line.Has("server")) {
    options.server = command_line.Get("server");
  } else if (server_env != nullptr && *server_env != '\0') {
    options.server = server_env;
  }
  if (options.server.empty()) {
    return absl::InvalidArgumentError("--server must not be empty");
  }
  const char* key_env = std::getenv(kApiKeyEnv);
  if (command_line.Has("api-key")) {
    options.api_key = command_line.Get("api-key");
  } else if (key_env != nullptr) {
    options.api_key = key_env;
  }
  if (command_line.Has("timeout")) {
    absl::StatusOr<double> seconds = command_line.GetDouble("timeout");
    if (!seconds.ok()) return seconds.status();
    if (!std::isfinite(*seconds) || *seconds <= 0) {
      return absl::InvalidArgumentError(
          "--timeout must be a positive number of seconds");
    }
    options.timeout = absl::Seconds(*seconds);
  }
  return options;
}

bool SwitchOn(const CommandLine& command_line, const std::string& name) {
  return command_line.Has(name) && command_line.Get(name) == "true";
}

bool WantsJson(const CommandLine& command_line) {
  return SwitchOn(command_line, "json");
}

int UsageError(std::ostream& err, const std::string& command,
               const absl::Status& status) {
  err << "loraplex " << command << ": " << status.message()
      << "\n(run 'loraplex " << command << " --help' for usage)\n";
  return kExitUsage;
}

int ReportError(std::ostream& err, const absl::Status& status) {
  err << tools::FormatErrorLine(status) << "\n";
  return kExitFailure;
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace loraplex::cli
