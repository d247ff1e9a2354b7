// `loraplex-server`'s command line: `--name=value` or `--name value` for
// each field of ServerOptions, and `--help`. Unknown flags and bad values
// are errors (a typo never passes silently).
#ifndef LORAPLEX_SERVICE_SERVER_SERVER_FLAGS_H_
#define LORAPLEX_SERVICE_SERVER_SERVER_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/server/server_options.h"

namespace loraplex::service {

// Where defaults that depend on the machine come from.
struct FlagEnvironment {
  // The embedded model: LORAPLEX_DEFAULT_MODEL_DIR (<repo>/models/demo) in
  // the server binary.
  std::string default_model_dir;
  std::string env_model;       // $LORAPLEX_MODEL; overrides the default.
  std::string xdg_state_home;  // $XDG_STATE_HOME.
};

struct ParsedFlags {
  ServerOptions options;
  bool help = false;  // --help was given; print ServerUsage() and exit.
};

// Parses `args` (without the program name). Defaults: --model is
// env_model, else default_model_dir; --registry-dir is
// $XDG_STATE_HOME/loraplex/registry when that is set, else
// ./loraplex-registry; --seed-adapters is <default model>/adapters when
// --model is the default model, else none. INVALID_ARGUMENT naming the flag.
absl::StatusOr<ParsedFlags> ParseServerFlags(
    const std::vector<std::string>& args, const FlagEnvironment& environment);

// The --help text: every flag with its default.
std::string ServerUsage(const FlagEnvironment& environment);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_SERVER_FLAGS_H_
