// The embedded AdapterRegistry backend: adapters on the local filesystem
// under `--registry-dir`.
//
// Layout under root_dir:
//   adapters/<tenant>/<name>@<version>/   a committed adapter: its two files
//                                         plus loraplex_adapter.json (the
//                                         record), written last
//   .staging/<random>/                    uploads in progress
//   .trash/<random>/                      deletions in progress
//   .quarantine/<random>-<tenant>-<dir>/  committed-looking directories
//                                         that failed checks at start-up
//
// Note [Registry commit]: an upload is received and verified in its own
// staging directory; its files, its metadata file and the directory are
// fsynced, and a single rename(2) moves it under adapters/<tenant>/, after
// which the tenant directory is fsynced. Before the rename nothing is
// visible; after it, everything is. A crash leaves at worst a staging
// directory, which Open() removes. Deletion is the mirror image: one rename
// into .trash/, then removal. The version in the directory name means a
// deleted adapter's old path is never reused by a new upload.
#ifndef LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_ADAPTER_REGISTRY_H_
#define LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_ADAPTER_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

struct FilesystemAdapterRegistryOptions {
  std::string root_dir;  // --registry-dir; created if missing.
  // --max-upload-bytes: total of one upload's two files.
  uint64_t max_upload_bytes = uint64_t{512} << 20;
  // --max-adapters-per-tenant; 0 = no limit. Adapters already stored when
  // the limit is lowered stay served; only new uploads are refused.
  int32_t max_adapters_per_tenant = 100;
  // Required: checks each upload against the base model before commit.
  AdapterValidator validator;
  // Re-hash every committed file at Open() (reads every stored byte once)
  // and quarantine adapters whose files changed. When false only sizes are
  // checked.
  bool verify_checksums_on_open = true;
};

// What Open() found and did, for the start-up log and tests.
struct RegistryRecoveryReport {
  int32_t adapters_loaded = 0;
  int32_t staged_uploads_removed = 0;  // Left over from a crash.
  int32_t trash_entries_removed = 0;   // Deletions a crash interrupted.
  // Moved to .quarantine/: "<path>: <reason>" each.
  std::vector<std::string> quarantined;
};

class FilesystemAdapterRegistry final : public AdapterRegistry {
 public:
  // Creates the layout if needed, clears .staging/ and .trash/, and loads
  // every committed adapter. A committed-looking directory that does not
  // check out (unreadable or invalid metadata, missing files, wrong size or
  // sha256, an entry that is not "<name>@<version>") is moved to
  // .quarantine/ and logged, not served. INVALID_ARGUMENT for bad options;
  // filesystem errors on the layout itself pass through.
  static absl::StatusOr<std::unique_ptr<FilesystemAdapterRegistry>> Open(
      FilesystemAdapterRegistryOptions options);

  // Every StagedUpload returned must be destroyed before the registry.
  absl::StatusOr<std::unique_ptr<StagedUpload>> BeginUpload(
      const UploadSpec& spec) override;
  absl::StatusOr<AdapterRecord> Get(const AdapterRef& ref) const override;
  absl::StatusOr<AdapterPage> List(const ListQuery& query) const override;
  absl::StatusOr<AdapterRecord> Delete(const AdapterRef& ref) override;
  std::vector<AdapterRecord> ListAll() const override;
  std::string adapter_dir(const AdapterRecord& record) const override;

  const RegistryRecoveryReport& recovery_report() const { return recovery_; }
  const std::string& root_dir() const { return options_.root_dir; }

 private:
  using Key = std::pair<std::string, std::string>;  // (tenant, name)

  explicit FilesystemAdapterRegistry(FilesystemAdapterRegistryOptions options);

  std::string tenant_dir(const std::string& tenant) const;

  // Open() steps (registry_recovery.cc); run before the registry is shared.
  absl::Status Recover();
  absl::Status ClearDirectory(const std::string& dir, int32_t* removed);
  void LoadTenant(const std::string& tenant);
  absl::StatusOr<AdapterRecord> LoadCommitted(const std::string& tenant,
                                              const std::string& entry) const;
  absl::Status CheckFiles(const AdapterRecord& record) const;
  void Quarantine(const std::string& path, const std::string& label,
                  const absl::Status& reason);
  void AddRecovered(AdapterRecord record);

  // Note [Registry commit]: the last step of StagedUpload::Finish.
  absl::StatusOr<AdapterRecord> Commit(const AdapterRecord& record,
                                       const std::string& staged_dir);
  // ALREADY_EXISTS or RESOURCE_EXHAUSTED if `ref` cannot be added now.
  absl::Status CheckCanAdd(const AdapterRef& ref) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const FilesystemAdapterRegistryOptions options_;
  const std::string adapters_dir_;
  const std::string staging_dir_;
  const std::string trash_dir_;
  const std::string quarantine_dir_;
  RegistryRecoveryReport recovery_;  // Written only by Open().

  mutable absl::Mutex mu_;
  // Guards the committed set and the adapters/ tree: renames into and out
  // of it happen under mu_ (writer), so a check-then-rename is atomic.
  std::map<Key, AdapterRecord> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_ADAPTER_REGISTRY_H_
