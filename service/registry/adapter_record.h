// What the registry stores about one uploaded adapter, and its JSON form
// (the metadata file committed with the adapter's files).
#ifndef LORAPLEX_SERVICE_REGISTRY_ADAPTER_RECORD_H_
#define LORAPLEX_SERVICE_REGISTRY_ADAPTER_RECORD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/lora/lora_adapter.h"
#include "service/auth/access.h"
#include "service/auth/names.h"

namespace loraplex::service {

// The two files of a PEFT LoRA adapter; an upload has exactly these.
inline constexpr char kAdapterConfigFilename[] = "adapter_config.json";
inline constexpr char kAdapterWeightsFilename[] = "adapter_model.safetensors";
bool IsAdapterFilename(absl::string_view filename);

struct AdapterFileRecord {
  std::string filename;  // kAdapterConfigFilename or kAdapterWeightsFilename.
  std::string sha256;    // 64 lower-case hex digits.
  uint64_t size_bytes = 0;

  bool operator==(const AdapterFileRecord& other) const {
    return filename == other.filename && sha256 == other.sha256 &&
           size_bytes == other.size_bytes;
  }
};

struct AdapterRecord {
  std::string tenant;  // Owner.
  std::string name;    // Unique per tenant.
  // 32 lower-case hex digits (128 random bits), new for every upload.
  std::string version;
  std::string description;
  Visibility visibility = Visibility::kPrivate;
  std::vector<AdapterFileRecord> files;  // Sorted by filename.
  engine::LoraAdapterSummary summary;    // From the upload's validator.
  absl::Time created_at;                 // When the upload committed.

  AdapterRef ref() const { return AdapterRef{tenant, name}; }
  // The id to register with the engine: "<tenant>/<name>@<version>". The
  // version makes it unique over time, so an adapter deleted and uploaded
  // again never collides with the old one still finishing in the engine.
  std::string engine_adapter_id() const;
  uint64_t size_bytes() const;  // Sum over files.
};

bool IsVersionId(absl::string_view version);  // 32 lower-case hex digits.

// The metadata file's JSON ("format": 1). Parsing checks every field
// (names, version, sha256 digests, the two filenames) and answers
// INVALID_ARGUMENT naming the bad field.
std::string AdapterRecordToJson(const AdapterRecord& record);
absl::StatusOr<AdapterRecord> AdapterRecordFromJson(absl::string_view json);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_ADAPTER_RECORD_H_
