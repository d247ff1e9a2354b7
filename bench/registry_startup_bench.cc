// Start-up time against the number of stored adapters (issue 14, item 10:
// every start re-hashed every stored byte). Writes N committed adapters
// (copies of one fixture adapter, each with its own record) straight into a
// registry directory, then times FilesystemAdapterRegistry::Open with the
// default size-only check and with --verify-registry-checksums, and a whole
// ServerApp::Start (model load, registry, registering every adapter with
// the engine, gRPC up). The page cache is warm (the files were just
// written): cold-disk figures add the reads, which only the checksum mode
// does for the adapter files. Prints one JSON object.
//
//   registry_startup_bench [--adapters 10000] [--dir /tmp]
//                          [--model DIR] [--adapter DIR]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "service/auth/sha256.h"
#include "service/registry/adapter_record.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "service/registry/filesystem_staged_upload.h"
#include "service/server/server_app.h"

namespace {

using Clock = std::chrono::steady_clock;
using loraplex::service::AdapterRecord;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// N committed adapters under `root`, 100 per tenant; total bytes stored.
uint64_t WriteRegistry(const std::string& root, int count,
                       const std::string& adapter_dir) {
  const std::string config = ReadAll(adapter_dir + "/adapter_config.json");
  const std::string weights =
      ReadAll(adapter_dir + "/adapter_model.safetensors");
  uint64_t bytes = 0;
  for (int i = 0; i < count; ++i) {
    AdapterRecord record;
    record.tenant = absl::StrCat("tenant", i / 100);
    record.name = absl::StrCat("adapter", i);
    record.version = absl::StrFormat("%032x", i);
    record.description = "registry_startup_bench";
    record.files = {{loraplex::service::kAdapterConfigFilename,
                     loraplex::service::Sha256Hex(config), config.size()},
                    {loraplex::service::kAdapterWeightsFilename,
                     loraplex::service::Sha256Hex(weights), weights.size()}};
    record.summary.max_rank = 8;
    record.summary.lora_alpha = 16;
    record.summary.targets = {"q_proj", "v_proj"};
    record.summary.num_modules = 4;
    record.summary.weight_bytes = weights.size();
    record.created_at = absl::Now();
    const std::string dir = absl::StrCat(root, "/adapters/", record.tenant, "/",
                                         record.name, "@", record.version);
    std::filesystem::create_directories(dir);
    WriteAll(dir + "/adapter_config.json", config);
    WriteAll(dir + "/adapter_model.safetensors", weights);
    WriteAll(dir + "/" + loraplex::service::kRegistryMetadataFilename,
             loraplex::service::AdapterRecordToJson(record));
    bytes += config.size() + weights.size();
  }
  return bytes;
}

// Seconds to Open the registry; -1 when it fails.
double TimeOpen(const std::string& root, bool verify, int* loaded) {
  loraplex::service::FilesystemAdapterRegistryOptions options;
  options.root_dir = root;
  options.max_adapters_per_tenant = 0;
  options.verify_checksums_on_open = verify;
  options.validator = [](const std::string&)
      -> absl::StatusOr<loraplex::engine::LoraAdapterSummary> {
    return absl::UnimplementedError("no uploads in this benchmark");
  };
  const Clock::time_point start = Clock::now();
  auto registry =
      loraplex::service::FilesystemAdapterRegistry::Open(std::move(options));
  const double seconds = SecondsSince(start);
  if (!registry.ok()) {
    std::cerr << registry.status() << "\n";
    return -1;
  }
  *loaded = (*registry)->recovery_report().adapters_loaded;
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 10000;
  std::string dir = "/tmp";
  std::string model = LORAPLEX_FIXTURE_DIR "/model";
  std::string adapter = LORAPLEX_FIXTURE_DIR "/adapters/qv-r8";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--adapters") == 0) count = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--model") == 0) model = argv[i + 1];
    if (std::strcmp(argv[i], "--adapter") == 0) adapter = argv[i + 1];
  }
  const std::string root = dir + "/registry_startup_bench";
  std::filesystem::remove_all(root);
  Clock::time_point start = Clock::now();
  const uint64_t bytes = WriteRegistry(root, count, adapter);
  const double write_seconds = SecondsSince(start);

  int loaded_sizes = 0;
  int loaded_checksums = 0;
  const double open_sizes = TimeOpen(root, /*verify=*/false, &loaded_sizes);
  const double open_checksums =
      TimeOpen(root, /*verify=*/true, &loaded_checksums);

  loraplex::service::ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.metrics_listen = "";
  options.http_listen = "none";
  options.registry_dir = root;
  options.engine.model_dir = model;
  options.engine.device = "cpu";
  options.engine.num_threads = 1;
  options.max_adapters_per_tenant = 0;
  start = Clock::now();
  auto app = loraplex::service::ServerApp::Start(options);
  const double server_start = SecondsSince(start);
  if (!app.ok()) {
    std::cerr << app.status() << "\n";
    return 1;
  }
  const int64_t registered = (*app)->engine().Stats().registered_adapters;
  (*app)->Shutdown(absl::ZeroDuration());
  app->reset();
  std::filesystem::remove_all(root);

  const nlohmann::json result = {
      {"adapters", count},
      {"stored_bytes", bytes},
      {"write_seconds", write_seconds},
      {"open_size_check_seconds", open_sizes},
      {"open_size_check_loaded", loaded_sizes},
      {"open_checksum_seconds", open_checksums},
      {"open_checksum_loaded", loaded_checksums},
      {"server_start_seconds", server_start},
      {"server_registered_adapters", registered},
  };
  std::cout << result.dump(2) << "\n";
  return loaded_sizes == count && registered == count ? 0 : 1;
}
