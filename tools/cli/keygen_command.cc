// `loraplex keygen`: a new API key and the line that grants it in the
// server's --api-keys file (service/auth/api_key_store.h has the format).
#include <ostream>

#include "nlohmann/json.hpp"
#include "service/auth/api_key_store.h"
#include "service/auth/principal.h"
#include "tools/cli/cli_command.h"
#include "tools/cli/client_commands.h"
#include "tools/cli/client_flags.h"

namespace loraplex::cli {

int RunKeygenCommand(const std::vector<std::string>& args, std::istream& in,
                     std::ostream& out, std::ostream& err) {
  constexpr char kCommand[] = "keygen";
  const std::vector<FlagSpec> specs = {
      ValueFlag("tenant", "the tenant the key acts as (required)"),
      ValueFlag("role", "tenant or admin", "tenant"),
      SwitchFlag("json", "print {\"api_key\", \"key_file_line\", ...}"),
      SwitchFlag("help", "show this help"),
  };
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, kCommand, cl.status());
  if (SwitchOn(*cl, "help")) {
    out << FormatHelp(
        "loraplex keygen --tenant NAME [--role tenant|admin]",
        "Makes a new random API key. Give the key to the client (it is "
        "shown only once) and append\nthe key file line to the server's "
        "--api-keys file: it holds the key's SHA-256, never the key.",
        specs);
    return kExitOk;
  }
  if (!cl->positional().empty()) {
    return UsageError(err, kCommand,
                      absl::InvalidArgumentError("takes no arguments"));
  }
  if (cl->Get("tenant").empty()) {
    return UsageError(err, kCommand,
                      absl::InvalidArgumentError("--tenant NAME is required"));
  }
  absl::StatusOr<service::Role> role = service::ParseRole(cl->Get("role"));
  if (!role.ok()) return UsageError(err, kCommand, role.status());
  absl::StatusOr<std::string> key = service::GenerateApiKey();
  if (!key.ok()) return ReportError(err, key.status());
  absl::StatusOr<std::string> line =
      service::FormatApiKeyFileLine(cl->Get("tenant"), *role, *key);
  if (!line.ok()) return UsageError(err, kCommand, line.status());
  if (SwitchOn(*cl, "json")) {
    const nlohmann::json json = {
        {"api_key", *key},
        {"key_file_line", *line},
        {"tenant", cl->Get("tenant")},
        {"role", std::string(service::RoleName(*role))}};
    out << json.dump() << "\n";
    return kExitOk;
  }
  out << "API key (give it to the client; it is not stored anywhere):\n"
      << "  " << *key << "\n"
      << "Line for the server's --api-keys file:\n"
      << "  " << *line << "\n";
  return kExitOk;
}

}  // namespace loraplex::cli
