// FilesystemAdapterRegistry::Open()'s start-up recovery: clear what a crash
// left half done, load what was committed, quarantine what does not check
// out. See Note [Registry commit] in filesystem_adapter_registry.h.
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/registry/file_util.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "service/registry/filesystem_staged_upload.h"

namespace loraplex::service {

using file_util::JoinPath;

absl::Status FilesystemAdapterRegistry::Recover() {
  for (const std::string* dir :
       {&options_.root_dir, &adapters_dir_, &staging_dir_, &trash_dir_,
        &quarantine_dir_}) {
    RETURN_IF_ERROR(file_util::MakeDirs(*dir));
  }
  RETURN_IF_ERROR(
      ClearDirectory(staging_dir_, &recovery_.staged_uploads_removed));
  RETURN_IF_ERROR(ClearDirectory(trash_dir_, &recovery_.trash_entries_removed));
  ASSIGN_OR_RETURN(std::vector<std::string> tenants,
                   file_util::ListDir(adapters_dir_));
  for (const std::string& tenant : tenants) {
    const std::string path = tenant_dir(tenant);
    if (!IsValidName(tenant) || !file_util::IsDirectory(path)) {
      Quarantine(path, tenant,
                 absl::InvalidArgumentError("not a tenant directory"));
      continue;
    }
    LoadTenant(tenant);
  }
  LogInfo(
      "registry %s: %d adapters loaded, %d interrupted uploads and %d "
      "interrupted deletions cleaned up, %d directories quarantined",
      options_.root_dir, recovery_.adapters_loaded,
      recovery_.staged_uploads_removed, recovery_.trash_entries_removed,
      recovery_.quarantined.size());
  return absl::OkStatus();
}

absl::Status FilesystemAdapterRegistry::ClearDirectory(const std::string& dir,
                                                       int32_t* removed) {
  ASSIGN_OR_RETURN(std::vector<std::string> entries, file_util::ListDir(dir));
  for (const std::string& entry : entries) {
    RETURN_IF_ERROR(file_util::RemoveTree(JoinPath(dir, entry)));
    ++*removed;
  }
  if (!entries.empty()) {
    RETURN_IF_ERROR(file_util::SyncPath(dir));
  }
  return absl::OkStatus();
}

void FilesystemAdapterRegistry::LoadTenant(const std::string& tenant) {
  absl::StatusOr<std::vector<std::string>> entries =
      file_util::ListDir(tenant_dir(tenant));
  if (!entries.ok()) {
    Quarantine(tenant_dir(tenant), tenant, entries.status());
    return;
  }
  for (const std::string& entry : *entries) {
    if (RemoveIfTombstoned(JoinPath(tenant_dir(tenant), entry))) continue;
    absl::StatusOr<AdapterRecord> record = LoadCommitted(tenant, entry);
    if (!record.ok()) {
      Quarantine(JoinPath(tenant_dir(tenant), entry),
                 absl::StrCat(tenant, "-", entry), record.status());
      continue;
    }
    AddRecovered(*std::move(record));
  }
}

bool FilesystemAdapterRegistry::RemoveIfTombstoned(const std::string& path) {
  const std::string tombstone = JoinPath(path, kRegistryTombstoneFilename);
  if (!file_util::IsDirectory(path) || !file_util::PathExists(tombstone)) {
    return false;
  }
  // Deleted before the last stop; its files were still in use then.
  absl::Status removed = file_util::RemoveTree(path);
  if (!removed.ok()) {
    // Never served either way; the next start tries again.
    LogWarning("registry: cannot remove deleted adapter %s: %s", path,
               removed.ToString());
  }
  ++recovery_.trash_entries_removed;
  return true;
}

absl::StatusOr<AdapterRecord> FilesystemAdapterRegistry::LoadCommitted(
    const std::string& tenant, const std::string& entry) const {
  const std::string path = JoinPath(tenant_dir(tenant), entry);
  if (!file_util::IsDirectory(path)) {
    return absl::FailedPreconditionError("not a directory");
  }
  const size_t at = entry.find('@');
  if (at == std::string::npos || !IsValidName(entry.substr(0, at)) ||
      !IsVersionId(entry.substr(at + 1))) {
    return absl::InvalidArgumentError(
        "the directory name is not \"<name>@<version>\"");
  }
  ASSIGN_OR_RETURN(std::string metadata, file_util::ReadFile(JoinPath(
                                             path, kRegistryMetadataFilename)));
  ASSIGN_OR_RETURN(AdapterRecord record, AdapterRecordFromJson(metadata));
  if (record.tenant != tenant ||
      absl::StrCat(record.name, "@", record.version) != entry) {
    return absl::InvalidArgumentError(
        absl::StrCat("the metadata describes ", record.engine_adapter_id(),
                     ", not the directory's adapter"));
  }
  RETURN_IF_ERROR(CheckFiles(record));
  return record;
}

absl::Status FilesystemAdapterRegistry::CheckFiles(
    const AdapterRecord& record) const {
  const std::string dir = adapter_dir(record);
  for (const AdapterFileRecord& file : record.files) {
    const std::string path = JoinPath(dir, file.filename);
    uint64_t size = 0;
    std::string sha256 = file.sha256;
    if (options_.verify_checksums_on_open) {
      ASSIGN_OR_RETURN(file_util::FileDigest digest,
                       file_util::DigestFile(path));
      size = digest.size_bytes;
      sha256 = DigestToHex(digest.sha256);
    } else {
      std::error_code error;
      size = std::filesystem::file_size(path, error);
      if (error) {
        return absl::ErrnoToStatus(error.value(),
                                   absl::StrCat("cannot stat ", path));
      }
    }
    if (size != file.size_bytes || sha256 != file.sha256) {
      return absl::DataLossError(absl::StrCat(
          file.filename, " does not match its recorded size and sha256 (",
          file.size_bytes, " bytes, ", file.sha256, "); found ", size,
          " bytes, ", sha256));
    }
  }
  return absl::OkStatus();
}

void FilesystemAdapterRegistry::AddRecovered(AdapterRecord record) {
  absl::MutexLock lock(&mu_);
  const Key key{record.tenant, record.name};
  auto it = records_.find(key);
  if (it != records_.end()) {
    // Two committed versions of one name cannot come from this registry's
    // own commits; keep the newer and set the other aside.
    if (it->second.created_at < record.created_at) {
      std::swap(it->second, record);
    }
    // `record` is now the older one.
    Quarantine(
        adapter_dir(record),
        absl::StrCat(record.tenant, "-", record.name, "@", record.version),
        absl::AlreadyExistsError(absl::StrCat("a newer version of ",
                                              record.tenant, "/", record.name,
                                              " is committed")));
    return;
  }
  records_.emplace(key, std::move(record));
  ++recovery_.adapters_loaded;
}

void FilesystemAdapterRegistry::Quarantine(const std::string& path,
                                           const std::string& label,
                                           const absl::Status& reason) {
  absl::StatusOr<std::string> id = file_util::RandomHex(4);
  const std::string destination =
      JoinPath(quarantine_dir_, absl::StrCat(id.ok() ? *id : "x", "-", label));
  absl::Status moved = file_util::Rename(path, destination);
  if (!moved.ok()) {
    LogError("registry: %s is not served (%s) and cannot be moved aside: %s",
             path, reason.ToString(), moved.ToString());
    return;
  }
  const std::string parent = std::filesystem::path(path).parent_path();
  file_util::SyncPath(parent).IgnoreError();
  recovery_.quarantined.push_back(absl::StrCat(path, ": ", reason.ToString()));
  LogWarning("registry: quarantined %s as %s: %s", path, destination,
             reason.ToString());
}

}  // namespace loraplex::service
