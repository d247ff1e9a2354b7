// Note [Client-visible errors]: what a client reads in an error message
// names its own things (field names, "<tenant>/<name>" of an adapter), never
// the server's: no file path (of the registry or the model) and no engine
// adapter id ("<tenant>/<name>@<version>", an internal key). Errors come
// from many layers (engine load failures, registry I/O, validation) that
// rightly name paths in the server's log; they are scrubbed once, where an
// RPC ends (ToClientStatus in service/grpc/status_conversion.h, OpenAiError in
// service/http/openai_error.h), by an ErrorScrubber:
//   <registry>/adapters/<tenant>/<name>@<version>[/<file>]
//                                      -> <tenant>/<name>[/<file>]
//   <registry>/.staging/<id>[/<file>]  -> <upload>[/<file>]
//   anything else under <registry>     -> <registry>
//   <model dir>[/<file>]               -> <model>[/<file>]
//   <tenant>/<name>@<version>          -> <tenant>/<name>
// where <registry> and <model dir> match as configured, as absolute paths
// and as canonical paths (symbolic links resolved); a relative spelling
// only where a path continues after it ("models/demo/config.json", not the
// bare word), and a relative model directory only when it has a '/' (a
// bare "demo" would also be a tenant's name).
#ifndef LORAPLEX_SERVICE_FRONTEND_ERROR_SCRUBBER_H_
#define LORAPLEX_SERVICE_FRONTEND_ERROR_SCRUBBER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace loraplex::service {

class ErrorScrubber {
 public:
  // Either directory may be empty (not scrubbed).
  ErrorScrubber(const std::string& registry_dir, const std::string& model_dir);

  // `message` as Note [Client-visible errors] says. Thread-safe.
  std::string Scrub(absl::string_view message) const;
  // The same code with the message scrubbed; OK stays OK.
  absl::Status Scrub(const absl::Status& status) const;

 private:
  enum class Root { kRegistry, kModel };
  struct Prefix {
    std::string path;  // No trailing '/'.
    Root root;
  };

  // The replacement for the path `relative` (what follows a prefix of
  // `root`, starting with '/' or empty).
  static std::string Replace(Root root, absl::string_view relative);

  std::vector<Prefix> prefixes_;  // Longest first.
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_FRONTEND_ERROR_SCRUBBER_H_
