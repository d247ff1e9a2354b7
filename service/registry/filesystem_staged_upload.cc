#include "service/registry/filesystem_staged_upload.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "engine/common/status_macros.h"
#include "service/registry/file_util.h"

namespace loraplex::service {

absl::StatusOr<std::unique_ptr<FilesystemStagedUpload>>
FilesystemStagedUpload::Create(UploadSpec spec, std::string staged_dir,
                               AdapterValidator validator,
                               AdapterCompressor compressor, CommitFn commit,
                               DiscardFn discard) {
  if (mkdir(staged_dir.c_str(), 0755) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot create ", staged_dir));
  }
  // From here on the destructor removes the directory on every error.
  std::unique_ptr<FilesystemStagedUpload> upload(new FilesystemStagedUpload(
      std::move(spec), std::move(staged_dir), std::move(validator),
      std::move(compressor), std::move(commit), std::move(discard)));
  // Note [Staged files hold no descriptor]: the files are created empty
  // now and reopened for each chunk, so an upload that sits idle holds no
  // file descriptor.
  for (StagedFile& file : upload->files_) {
    absl::Status created = file_util::CreateEmptyFile(file.path);
    if (!created.ok()) return upload->Abort(std::move(created));
  }
  return upload;
}

FilesystemStagedUpload::FilesystemStagedUpload(
    UploadSpec spec, std::string staged_dir, AdapterValidator validator,
    AdapterCompressor compressor, CommitFn commit, DiscardFn discard)
    : spec_(std::move(spec)),
      staged_dir_(std::move(staged_dir)),
      validator_(std::move(validator)),
      compressor_(std::move(compressor)),
      commit_(std::move(commit)),
      discard_(std::move(discard)) {
  std::sort(spec_.files.begin(), spec_.files.end(),
            [](const AdapterFileRecord& a, const AdapterFileRecord& b) {
              return a.filename < b.filename;
            });
  files_.resize(spec_.files.size());
  for (size_t i = 0; i < spec_.files.size(); ++i) {
    StagedFile& file = files_[i];
    file.declared = spec_.files[i];
    file.declared.sha256 = absl::AsciiStrToLower(file.declared.sha256);
    ParseSha256Hex(file.declared.sha256, &file.expected_sha256);
    file.path = file_util::JoinPath(staged_dir_, file.declared.filename);
  }
}

FilesystemStagedUpload::~FilesystemStagedUpload() {
  if (state_ == State::kReceiving) {
    Abort(absl::CancelledError("upload dropped")).IgnoreError();
  }
}

uint64_t FilesystemStagedUpload::bytes_received() const {
  uint64_t total = 0;
  for (const StagedFile& file : files_) {
    total += file.received;
  }
  return total;
}

FilesystemStagedUpload::StagedFile* FilesystemStagedUpload::FindFile(
    absl::string_view filename) {
  for (StagedFile& file : files_) {
    if (file.declared.filename == filename) {
      return &file;
    }
  }
  return nullptr;
}

absl::Status FilesystemStagedUpload::CheckReceiving() const {
  if (state_ == State::kReceiving) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      state_ == State::kCommitted ? "the upload is already committed"
                                  : "the upload was aborted by an earlier "
                                    "error");
}

absl::Status FilesystemStagedUpload::WriteChunk(absl::string_view filename,
                                                uint64_t offset,
                                                absl::string_view data) {
  RETURN_IF_ERROR(CheckReceiving());
  StagedFile* file = FindFile(filename);
  if (file == nullptr) {
    return Abort(absl::InvalidArgumentError(
        absl::StrCat("chunk for undeclared file \"", absl::CHexEscape(filename),
                     "\" (expected ", kAdapterConfigFilename, " or ",
                     kAdapterWeightsFilename, ")")));
  }
  return Append(*file, offset, data);
}

absl::Status FilesystemStagedUpload::Append(StagedFile& file, uint64_t offset,
                                            absl::string_view data) {
  const std::string& name = file.declared.filename;
  if (data.empty() || data.size() > kMaxUploadChunkBytes) {
    return Abort(absl::InvalidArgumentError(absl::StrCat(
        "a chunk of ", name, " carries ", data.size(),
        " bytes; chunks carry 1 to ", kMaxUploadChunkBytes, " bytes")));
  }
  if (offset != file.received) {
    return Abort(absl::InvalidArgumentError(
        absl::StrCat("chunk of ", name, " at offset ", offset, ", expected ",
                     file.received, " (chunks of a file come in order)")));
  }
  if (data.size() > file.declared.size_bytes - file.received) {
    return Abort(absl::InvalidArgumentError(
        absl::StrCat(name, " is longer than its declared ",
                     file.declared.size_bytes, " bytes")));
  }
  // Note [Staged files hold no descriptor].
  absl::Status written = file_util::AppendToFile(file.path, data);
  if (!written.ok()) {
    return Abort(written);
  }
  file.hasher.Update(data);
  file.received += data.size();
  return absl::OkStatus();
}

absl::StatusOr<AdapterRecord> FilesystemStagedUpload::Finish() {
  RETURN_IF_ERROR(CheckReceiving());
  absl::StatusOr<CommitOutcome> outcome = VerifyValidateCommit();
  if (!outcome.ok()) {
    return Abort(outcome.status());
  }
  state_ = State::kCommitted;
  created_new_ = outcome->created;
  if (!created_new_) {
    discard_(staged_dir_);  // Note [Idempotent upload]: a retry.
  }
  return std::move(outcome->record);
}

absl::Status FilesystemStagedUpload::VerifyFiles() {
  for (StagedFile& file : files_) {
    if (file.received != file.declared.size_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.declared.filename, " ended after ", file.received,
          " of its declared ", file.declared.size_bytes, " bytes"));
    }
  }
  for (StagedFile& file : files_) {
    const Sha256Digest actual = file.hasher.Finish();
    if (!DigestsEqual(actual, file.expected_sha256)) {
      return absl::DataLossError(absl::StrCat(
          "sha256 mismatch for ", file.declared.filename, ": declared ",
          file.declared.sha256, ", received ", DigestToHex(actual)));
    }
  }
  for (StagedFile& file : files_) {
    RETURN_IF_ERROR(file_util::SyncPath(file.path));
  }
  return absl::OkStatus();
}

std::string FilesystemStagedUpload::ForClient(absl::string_view message) const {
  // The client named an adapter, not our staging directory.
  return absl::StrReplaceAll(
      message,
      {{staged_dir_, AdapterRef{spec_.tenant, spec_.name}.ToString()}});
}

absl::StatusOr<std::optional<StoredCompression>>
FilesystemStagedUpload::Compress() {
  if (spec_.compression.target == CompressionRequest::Target::kNone) {
    return std::nullopt;
  }
  if (!compressor_) {
    return absl::FailedPreconditionError(
        "this server does not compress adapters at upload");
  }
  absl::StatusOr<StoredCompression> compression =
      compressor_(staged_dir_, spec_.compression);
  if (!compression.ok()) {
    return absl::Status(compression.status().code(),
                        ForClient(compression.status().message()));
  }
  compression->request = spec_.compression;
  compression->uploaded_files.clear();
  for (const StagedFile& file : files_) {
    compression->uploaded_files.push_back(file.declared);
  }
  return *std::move(compression);
}

absl::StatusOr<std::vector<AdapterFileRecord>>
FilesystemStagedUpload::StoredFiles(
    const std::optional<StoredCompression>& compression) const {
  std::vector<AdapterFileRecord> stored;
  for (const StagedFile& file : files_) {
    stored.push_back(file.declared);
    if (!compression.has_value() || !compression->compressed) continue;
    // Rewritten: what is stored is what the registry must check later.
    ASSIGN_OR_RETURN(const file_util::FileDigest digest,
                     file_util::DigestFile(file.path));
    stored.back().size_bytes = digest.size_bytes;
    stored.back().sha256 = DigestToHex(digest.sha256);
    RETURN_IF_ERROR(file_util::SyncPath(file.path));
  }
  return stored;
}

absl::StatusOr<CommitOutcome> FilesystemStagedUpload::VerifyValidateCommit() {
  RETURN_IF_ERROR(VerifyFiles());
  ASSIGN_OR_RETURN(std::optional<StoredCompression> compression, Compress());
  absl::StatusOr<engine::LoraAdapterSummary> summary = validator_(staged_dir_);
  if (!summary.ok()) {
    return absl::Status(summary.status().code(),
                        ForClient(summary.status().message()));
  }
  AdapterRecord record;
  record.tenant = spec_.tenant;
  record.name = spec_.name;
  ASSIGN_OR_RETURN(record.version, file_util::RandomHex(16));
  record.description = spec_.description;
  record.visibility = spec_.visibility;
  ASSIGN_OR_RETURN(record.files, StoredFiles(compression));
  record.summary = *std::move(summary);
  if (compression.has_value()) {
    compression->stored_rank = record.summary.max_rank;
    // Stored as uploaded: the validator's rank is the uploaded one.
    if (!compression->compressed) {
      compression->original_rank = record.summary.max_rank;
    }
  }
  record.compression = std::move(compression);
  record.created_at = absl::Now();
  RETURN_IF_ERROR(file_util::WriteNewFileDurably(
      file_util::JoinPath(staged_dir_, kRegistryMetadataFilename),
      AdapterRecordToJson(record)));
  RETURN_IF_ERROR(file_util::SyncPath(staged_dir_));
  return commit_(record, staged_dir_);
}

absl::Status FilesystemStagedUpload::Abort(absl::Status status) {
  state_ = State::kAborted;
  discard_(staged_dir_);
  return status;
}

}  // namespace loraplex::service
