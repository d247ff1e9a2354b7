// Internal to the filesystem registry: one upload being received into its
// own staging directory. See StagedUpload in adapter_registry.h for the
// contract.
#ifndef LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_STAGED_UPLOAD_H_
#define LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_STAGED_UPLOAD_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/auth/sha256.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

// Written last into a committed adapter's directory; an adapter directory
// without it was never committed.
inline constexpr char kRegistryMetadataFilename[] = "loraplex_adapter.json";
// What the metadata file is renamed to when the adapter is deleted: the
// directory is then a tombstone, never served, removed once released or at
// the next start (Note [Deleting an adapter in use] in adapter_registry.h).
inline constexpr char kRegistryTombstoneFilename[] = "loraplex_deleted.json";

// What the registry's commit step did with a verified upload.
struct CommitOutcome {
  AdapterRecord record;  // The stored adapter.
  // False when an identical adapter was already stored under the name: the
  // staged directory was not used (Note [Idempotent upload]).
  bool created = true;
};

class FilesystemStagedUpload final : public StagedUpload {
 public:
  // Moves the verified `staged_dir` (files fsynced, metadata written) into
  // place and returns the stored record, or returns the identical record
  // already stored (created = false) and leaves `staged_dir` alone; on error
  // the directory is still at `staged_dir`.
  using CommitFn = std::function<absl::StatusOr<CommitOutcome>(
      const AdapterRecord& record, const std::string& staged_dir)>;
  // Removes a staging directory that is no longer needed; never fails (the
  // registry retries what it cannot remove at once).
  using DiscardFn = std::function<void(const std::string& staged_dir)>;

  // Creates `staged_dir` (which must not exist) with the two empty files.
  // `spec` must have passed ValidateUploadSpec.
  static absl::StatusOr<std::unique_ptr<FilesystemStagedUpload>> Create(
      UploadSpec spec, std::string staged_dir, AdapterValidator validator,
      AdapterCompressor compressor, CommitFn commit, DiscardFn discard);

  ~FilesystemStagedUpload() override;

  absl::Status WriteChunk(absl::string_view filename, uint64_t offset,
                          absl::string_view data) override;
  absl::StatusOr<AdapterRecord> Finish() override;
  const UploadSpec& spec() const override { return spec_; }
  uint64_t bytes_received() const override;
  bool created_new() const override { return created_new_; }

 private:
  struct StagedFile {
    AdapterFileRecord declared;
    Sha256Digest expected_sha256{};
    std::string path;
    uint64_t received = 0;
    Sha256 hasher;
  };

  enum class State {
    kReceiving,  // Accepting chunks.
    kCommitted,  // Finish succeeded; the directory belongs to the registry.
    kAborted,    // An error happened; the staging directory is gone.
  };

  FilesystemStagedUpload(UploadSpec spec, std::string staged_dir,
                         AdapterValidator validator,
                         AdapterCompressor compressor, CommitFn commit,
                         DiscardFn discard);

  StagedFile* FindFile(absl::string_view filename);
  absl::Status CheckReceiving() const;
  absl::Status Append(StagedFile& file, uint64_t offset,
                      absl::string_view data);
  // Checks sizes and digests and fsyncs the files.
  absl::Status VerifyFiles();
  absl::StatusOr<CommitOutcome> VerifyValidateCommit();
  // Runs the compressor when the spec asks (nullopt when it does not).
  absl::StatusOr<std::optional<StoredCompression>> Compress();
  // The records of the files to store: as declared, or re-hashed (and
  // fsynced) when the compressor rewrote them.
  absl::StatusOr<std::vector<AdapterFileRecord>> StoredFiles(
      const std::optional<StoredCompression>& compression) const;
  // `message` with the staging directory replaced by "<tenant>/<name>".
  std::string ForClient(absl::string_view message) const;
  // Discards the staging directory; returns `status`.
  absl::Status Abort(absl::Status status);

  UploadSpec spec_;
  std::string staged_dir_;
  AdapterValidator validator_;
  AdapterCompressor compressor_;  // May be empty: no compression.
  CommitFn commit_;
  DiscardFn discard_;
  std::vector<StagedFile> files_;  // One per declared file.
  State state_ = State::kReceiving;
  bool created_new_ = false;  // Set by a successful Finish.
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_STAGED_UPLOAD_H_
