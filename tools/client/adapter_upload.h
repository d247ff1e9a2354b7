// Uploading a PEFT LoRA adapter directory with AdapterService.UploadAdapter:
// the two files are hashed locally (SHA-256), declared in the header message,
// then streamed in chunks of at most 1 MiB.
#ifndef LORAPLEX_TOOLS_CLIENT_ADAPTER_UPLOAD_H_
#define LORAPLEX_TOOLS_CLIENT_ADAPTER_UPLOAD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "tools/client/connection.h"

namespace loraplex::tools {

// The files an upload carries, in the order they are sent.
inline constexpr const char* kAdapterFileNames[] = {
    "adapter_config.json", "adapter_model.safetensors"};
// Largest data field of one FileChunk (adapters.proto).
inline constexpr size_t kMaxUploadChunkBytes = 1 << 20;

struct LocalAdapterFile {
  std::string filename;  // One of kAdapterFileNames.
  std::string path;      // Where it is on disk.
  uint64_t size_bytes = 0;
  std::string sha256;  // 64 lower-case hex digits.
};

// Stats and hashes the two adapter files in `dir` (other files there, such
// as a README, are left out). NOT_FOUND names a missing file; other read
// errors keep their errno code.
absl::StatusOr<std::vector<LocalAdapterFile>> InspectAdapterDir(
    const std::string& dir);

struct AdapterUploadSpec {
  std::string name;   // The adapter's name on the server.
  std::string owner;  // Empty = the caller's tenant (admins may name
                      // another tenant).
  std::string description;
  bool is_public = false;  // VISIBILITY_PUBLIC instead of PRIVATE.
  std::string dir;         // Holds the two files.
  // UploadHeader.compression; unset (no target) = store as uploaded.
  loraplex::v1::UploadCompression compression;
};

// Called after each chunk is handed to gRPC, with the bytes sent so far and
// the total; on the caller's thread.
using UploadProgressFn =
    std::function<void(uint64_t bytes_sent, uint64_t total_bytes)>;

// Hashes, then uploads the adapter in `spec.dir`. Blocks until the server
// answers. Local errors as InspectAdapterDir; otherwise the server's status
// (see adapters.proto). `progress` may be empty.
absl::StatusOr<loraplex::v1::Adapter> UploadAdapterDir(
    loraplex::v1::AdapterService::StubInterface& stub,
    const ConnectionOptions& connection, const AdapterUploadSpec& spec,
    const UploadProgressFn& progress = nullptr);

}  // namespace loraplex::tools

#endif  // LORAPLEX_TOOLS_CLIENT_ADAPTER_UPLOAD_H_
