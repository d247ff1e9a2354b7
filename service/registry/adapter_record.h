// What the registry stores about one uploaded adapter, and its JSON form
// (the metadata file committed with the adapter's files).
#ifndef LORAPLEX_SERVICE_REGISTRY_ADAPTER_RECORD_H_
#define LORAPLEX_SERVICE_REGISTRY_ADAPTER_RECORD_H_

#include <cstdint>
#include <optional>
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

// What an upload asks the server to do to its adapter before storing it
// (UploadHeader.compression in adapters.proto).
struct CompressionRequest {
  enum class Target {
    kNone,           // Store the files as uploaded.
    kToMaxLoraRank,  // Only an adapter over --max-lora-rank, to that rank.
    kRank,           // Every module to at most `rank`.
    kEnergy,         // Per module, the smallest rank keeping `energy`.
  };
  Target target = Target::kNone;
  int64_t rank = 0;   // kRank.
  double energy = 0;  // kEnergy.

  bool operator==(const CompressionRequest& other) const {
    return target == other.target && rank == other.rank &&
           energy == other.energy;
  }
};

// What compression at upload did (AdapterCompression in adapters.proto).
struct StoredCompression {
  CompressionRequest request;
  // False when kToMaxLoraRank found the adapter within the limit: the files
  // are stored as uploaded.
  bool compressed = false;
  int64_t original_rank = 0;
  int64_t stored_rank = 0;
  double retained_energy = 1;  // Over every module's update.
  // The files as uploaded; AdapterRecord::files are the stored ones.
  std::vector<AdapterFileRecord> uploaded_files;  // Sorted by filename.
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
  // Set when the upload asked for compression.
  std::optional<StoredCompression> compression;

  AdapterRef ref() const { return AdapterRef{tenant, name}; }
  // The id to register with the engine: "<tenant>/<name>@<version>". The
  // version makes it unique over time, so an adapter deleted and uploaded
  // again never collides with the old one still finishing in the engine.
  std::string engine_adapter_id() const;
  uint64_t size_bytes() const;  // Sum over files.
};

bool IsVersionId(absl::string_view version);  // 32 lower-case hex digits.

// The metadata file's JSON ("format": 1; "compression" is optional, so
// records written before it existed still load). Parsing checks every field
// (names, version, sha256 digests, the two filenames) and answers
// INVALID_ARGUMENT naming the bad field.
std::string AdapterRecordToJson(const AdapterRecord& record);
absl::StatusOr<AdapterRecord> AdapterRecordFromJson(absl::string_view json);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_ADAPTER_RECORD_H_
