// loraplex-loadgen: drives a loraplex-server with open- or closed-loop
// GenerateStream traffic over many adapters and reports latency, throughput
// and the server's adapter cache hit rate. See LoadgenUsage().
#include <iostream>
#include <string>
#include <vector>

#include "tools/loadgen/load_report.h"
#include "tools/loadgen/load_runner.h"
#include "tools/loadgen/loadgen_flags.h"
#include "tools/loadgen/metrics_scrape.h"

namespace {

using namespace loraplex::loadgen;  // NOLINT: one small main.

constexpr absl::Duration kScrapeTimeout = absl::Seconds(10);

int Fail(const absl::Status& status) {
  std::cerr << loraplex::tools::FormatErrorLine(status) << "\n";
  return 1;
}

absl::Status RunWarmup(const LoadgenConfig& config,
                       std::shared_ptr<grpc::Channel> channel) {
  if (config.warmup_requests <= 0) return absl::OkStatus();
  LoadOptions warmup = config.load;
  warmup.rate = 0;
  warmup.concurrency = 1;
  warmup.duration = absl::ZeroDuration();
  warmup.max_requests = config.warmup_requests;
  warmup.seed = config.load.seed + 1;
  return RunLoad(warmup, config.connection, channel).status();
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<LoadgenConfig> config =
      ParseLoadgenFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!config.ok()) {
    std::cerr << "loraplex-loadgen: " << config.status().message()
              << "\n(run 'loraplex-loadgen --help' for usage)\n";
    return 2;
  }
  if (config->help) {
    std::cout << LoadgenUsage();
    return 0;
  }
  std::shared_ptr<grpc::Channel> channel =
      loraplex::tools::MakeChannel(config->connection);
  absl::StatusOr<std::vector<std::string>> adapters =
      PrepareAdapters(config->adapters, config->connection, channel, std::cerr);
  if (!adapters.ok()) return Fail(adapters.status());
  config->load.adapters = *adapters;
  if (absl::Status status = RunWarmup(*config, channel); !status.ok()) {
    return Fail(status);
  }
  std::optional<CacheCounters> before;
  if (!config->metrics_url.empty()) {
    absl::StatusOr<CacheCounters> counters =
        ScrapeCacheCounters(config->metrics_url, kScrapeTimeout);
    if (!counters.ok()) return Fail(counters.status());
    before = *counters;
  }
  absl::StatusOr<std::vector<RequestRecord>> records =
      RunLoad(config->load, config->connection, channel);
  if (!records.ok()) return Fail(records.status());
  LoadReport report = BuildReport(*records);
  if (before) {
    absl::StatusOr<CacheCounters> after =
        ScrapeCacheCounters(config->metrics_url, kScrapeTimeout);
    if (!after.ok()) return Fail(after.status());
    report.server_cache = CounterDelta(*before, *after);
  }
  if (config->json) {
    std::cout << ReportToJson(report, ConfigToJson(*config)).dump(2) << "\n";
  } else {
    std::cout << ReportToText(report);
  }
  return 0;
}
