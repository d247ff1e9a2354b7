// Which adapters a load run uses: named ones, or the server's adapters whose
// name starts with a prefix, optionally after creating and uploading random
// ones (--create-adapters N). Blocking gRPC calls; for before the run.
#ifndef LORAPLEX_TOOLS_LOADGEN_ADAPTER_SETUP_H_
#define LORAPLEX_TOOLS_LOADGEN_ADAPTER_SETUP_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/client/connection.h"
#include "tools/loadgen/random_adapter.h"

namespace loraplex::loadgen {

struct AdapterSetupOptions {
  // Explicit names; when non-empty, nothing is listed or created.
  std::vector<std::string> names;
  // Otherwise: the visible adapters whose name (or "owner/name") starts with
  // this, sorted by name, the first `count` of them (0 = all).
  std::string prefix;
  int32_t count = 0;
  // Before listing: make sure adapters <prefix>0000 ... <prefix>(create-1)
  // exist, uploading random ones (RandomAdapterSpec, seed = index) for the
  // model whose config.json is at `model_config`. Existing names are kept.
  int32_t create = 0;
  RandomAdapterSpec random;
  std::string model_config;
  bool make_public = false;
};

// INVALID_ARGUMENT for --create-adapters without --model-config or a
// prefix; the server's status for failed calls. Progress lines go to `log`.
absl::StatusOr<std::vector<std::string>> PrepareAdapters(
    const AdapterSetupOptions& options,
    const tools::ConnectionOptions& connection,
    std::shared_ptr<grpc::Channel> channel, std::ostream& log);

// The name PrepareAdapters gives created adapter `index`: prefix + 4 digits.
std::string CreatedAdapterName(const std::string& prefix, int32_t index);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_ADAPTER_SETUP_H_
