// Internal to the filesystem registry: one upload being received into its
// own staging directory. See StagedUpload in adapter_registry.h for the
// contract.
#ifndef LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_STAGED_UPLOAD_H_
#define LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_STAGED_UPLOAD_H_

#include <functional>
#include <memory>
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

class FilesystemStagedUpload final : public StagedUpload {
 public:
  // Moves the verified `staged_dir` (files fsynced, metadata written) into
  // place and returns the stored record; on error the directory is still
  // at `staged_dir`.
  using CommitFn = std::function<absl::StatusOr<AdapterRecord>(
      const AdapterRecord& record, const std::string& staged_dir)>;

  // Creates `staged_dir` (which must not exist) with the two empty files.
  // `spec` must have passed ValidateUploadSpec.
  static absl::StatusOr<std::unique_ptr<FilesystemStagedUpload>> Create(
      UploadSpec spec, std::string staged_dir, AdapterValidator validator,
      CommitFn commit);

  ~FilesystemStagedUpload() override;

  absl::Status WriteChunk(absl::string_view filename, uint64_t offset,
                          absl::string_view data) override;
  absl::StatusOr<AdapterRecord> Finish() override;
  const UploadSpec& spec() const override { return spec_; }
  uint64_t bytes_received() const override;

 private:
  struct StagedFile {
    AdapterFileRecord declared;
    Sha256Digest expected_sha256{};
    std::string path;
    int fd = -1;
    uint64_t received = 0;
    Sha256 hasher;
  };

  enum class State {
    kReceiving,  // Accepting chunks.
    kCommitted,  // Finish succeeded; the directory belongs to the registry.
    kAborted,    // An error happened; the staging directory is gone.
  };

  FilesystemStagedUpload(UploadSpec spec, std::string staged_dir,
                         AdapterValidator validator, CommitFn commit);

  StagedFile* FindFile(absl::string_view filename);
  absl::Status CheckReceiving() const;
  absl::Status Append(StagedFile& file, uint64_t offset,
                      absl::string_view data);
  // Checks sizes and digests and fsyncs/closes the files.
  absl::Status VerifyFiles();
  absl::StatusOr<AdapterRecord> VerifyValidateCommit();
  // Closes the files and removes the staging directory; returns `status`.
  absl::Status Abort(absl::Status status);
  void CloseFiles();

  UploadSpec spec_;
  std::string staged_dir_;
  AdapterValidator validator_;
  CommitFn commit_;
  std::vector<StagedFile> files_;  // One per declared file.
  State state_ = State::kReceiving;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_FILESYSTEM_STAGED_UPLOAD_H_
