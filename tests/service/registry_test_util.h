// Shared helpers for the registry tests: temporary registry directories,
// the fixture adapters, and uploads through the real StagedUpload API,
// validated by the engine's real adapter parser.
#ifndef LORAPLEX_TESTS_SERVICE_REGISTRY_TEST_UTIL_H_
#define LORAPLEX_TESTS_SERVICE_REGISTRY_TEST_UTIL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/registry/adapter_registry.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "tests/support/temp_dir.h"

namespace loraplex::service::testing_util {

// The one temporary-directory helper (tests/support/temp_dir.h).
using TempDir = ::loraplex::testing::TempDir;

// The bytes of one fixture adapter (tests/data/fixtures/hf-dev/llama-gqa/
// adapters/<name>): "qv-r8", "all-r16" or "attn-r4-rslora".
struct AdapterBytes {
  std::string config;
  std::string weights;
};
AdapterBytes LoadFixtureAdapter(const std::string& fixture);

// A spec declaring `bytes` with their true sizes and sha256.
UploadSpec SpecFor(const std::string& tenant, const std::string& name,
                   const AdapterBytes& bytes,
                   Visibility visibility = Visibility::kPrivate);

// BeginUpload, both files in chunks of `chunk_bytes`, Finish.
absl::StatusOr<AdapterRecord> UploadAdapter(AdapterRegistry& registry,
                                            const UploadSpec& spec,
                                            const AdapterBytes& bytes,
                                            size_t chunk_bytes = 4096);

// The engine's LoraAdapterFiles::Open against the llama-gqa fixture model.
AdapterValidator EngineValidator(int64_t max_rank = 64);

FilesystemAdapterRegistryOptions OptionsFor(const std::string& root);

std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& contents);
// Entries of a directory (sorted); empty if it does not exist.
std::vector<std::string> ListDirOrEmpty(const std::string& path);

}  // namespace loraplex::service::testing_util

#endif  // LORAPLEX_TESTS_SERVICE_REGISTRY_TEST_UTIL_H_
