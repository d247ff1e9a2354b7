// `loraplex-loadgen` flags -> one config struct (in one place).
#ifndef LORAPLEX_TOOLS_LOADGEN_LOADGEN_FLAGS_H_
#define LORAPLEX_TOOLS_LOADGEN_LOADGEN_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tools/client/connection.h"
#include "tools/loadgen/adapter_setup.h"
#include "tools/loadgen/load_runner.h"

namespace loraplex::loadgen {

struct LoadgenConfig {
  tools::ConnectionOptions connection;
  AdapterSetupOptions adapters;
  LoadOptions load;  // load.adapters is filled by PrepareAdapters.
  // Requests run closed loop, one at a time, before the measured run (not
  // reported; the cache counters are read after them).
  int64_t warmup_requests = 0;
  // The server's Prometheus endpoint, e.g. http://127.0.0.1:9090/metrics;
  // empty = no cache hit rate in the report.
  std::string metrics_url;
  bool json = false;  // Report as one JSON object instead of text.
  bool help = false;
};

// INVALID_ARGUMENT naming the flag for bad values; ValidateLoadOptions'
// checks included.
absl::StatusOr<LoadgenConfig> ParseLoadgenFlags(
    const std::vector<std::string>& args);

std::string LoadgenUsage();

// The run's settings as they go into the JSON report's "config".
nlohmann::json ConfigToJson(const LoadgenConfig& config);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_LOADGEN_FLAGS_H_
