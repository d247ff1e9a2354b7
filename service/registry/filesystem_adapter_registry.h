// The embedded AdapterRegistry backend: adapters on the local filesystem
// under `--registry-dir`.
//
// Layout under root_dir:
//   adapters/<tenant>/<name>@<version>/   a committed adapter: its two files
//                                         plus loraplex_adapter.json (the
//                                         record), written last; or, once
//                                         deleted, loraplex_deleted.json
//                                         in its place (a tombstone)
//   .staging/<random>/                    uploads in progress
//   .trash/<random>/                      deletions being removed
//   .quarantine/<random>-<tenant>-<dir>/  committed-looking directories
//                                         that failed checks at start-up
//
// Note [Registry commit]: an upload is received and verified in its own
// staging directory; its files, its metadata file and the directory are
// fsynced, and a single rename(2) moves it under adapters/<tenant>/, after
// which the tenant directory is fsynced. Before the rename nothing is
// visible; after it, everything is. A crash leaves at worst a staging
// directory, which Open() removes. Deletion (Note [Deleting an adapter in
// use] in adapter_registry.h) renames the record file to the tombstone
// inside the adapter's directory and fsyncs it: from then on the adapter is
// gone, for this process and for the next start, which removes tombstoned
// directories; the files stay where the engine reads them until
// ReleaseDeletedFiles moves the directory into .trash/ and removes it. The
// version in the directory name means a deleted adapter's old path is never
// reused by a new upload.
//
// Removal that fails (e.g. EMFILE or EIO while cleaning up an aborted
// upload) is not forgotten: the path is kept and retried before the next
// upload, deletion or release, and Open() clears .staging/ and .trash/.
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
#include "service/registry/filesystem_staged_upload.h"

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
  // Optional: rewrites uploads that ask for compression before they are
  // validated; without it such uploads are FAILED_PRECONDITION.
  AdapterCompressor compressor;
  // Re-hash every committed file at Open() (reads every stored byte once,
  // so start-up time grows with the bytes stored) and quarantine adapters
  // whose files changed. When false (the default) only sizes are checked,
  // and start-up time grows with the number of adapters only.
  bool verify_checksums_on_open = false;
};

// What Open() found and did, for the start-up log and tests.
struct RegistryRecoveryReport {
  int32_t adapters_loaded = 0;
  int32_t staged_uploads_removed = 0;  // Left over from a crash.
  // Deletions a crash or a stop interrupted (tombstoned directories and
  // .trash/ entries).
  int32_t trash_entries_removed = 0;
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
  void ReleaseDeletedFiles(const AdapterRecord& record) override;
  std::vector<AdapterRecord> ListAll() const override;
  std::string adapter_dir(const AdapterRecord& record) const override;

  const RegistryRecoveryReport& recovery_report() const { return recovery_; }
  const std::string& root_dir() const { return options_.root_dir; }

  // Retries removing what could not be removed before (aborted uploads,
  // released deletions). Called by the registry itself before each upload,
  // deletion and release; does file I/O.
  void RetryPendingRemovals() ABSL_LOCKS_EXCLUDED(mu_);
  // Paths waiting for a removal retry (for tests).
  size_t pending_removals() const ABSL_LOCKS_EXCLUDED(mu_);

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
  // Removes a tombstoned adapter directory found at start-up; false when
  // `path` is not one.
  bool RemoveIfTombstoned(const std::string& path);
  absl::Status CheckFiles(const AdapterRecord& record) const;
  void Quarantine(const std::string& path, const std::string& label,
                  const absl::Status& reason);
  void AddRecovered(AdapterRecord record);

  // Note [Registry commit]: the last step of StagedUpload::Finish.
  absl::StatusOr<CommitOutcome> Commit(const AdapterRecord& record,
                                       const std::string& staged_dir);
  // Whether an upload of `spec` may go ahead: OK (with the stored record
  // when it is a retry of it, Note [Idempotent upload]), ALREADY_EXISTS or
  // RESOURCE_EXHAUSTED.
  absl::StatusOr<const AdapterRecord*> CheckCanAdd(const UploadSpec& spec) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Removes `path`; on failure keeps it for RetryPendingRemovals.
  void RemoveOrRetryLater(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

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
  // Paths whose removal failed, retried by RetryPendingRemovals.
  std::vector<std::string> pending_removals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_ADAPTER_REGISTRY_H_
