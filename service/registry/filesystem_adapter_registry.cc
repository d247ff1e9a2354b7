#include "service/registry/filesystem_adapter_registry.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/registry/file_util.h"
#include "service/registry/filesystem_staged_upload.h"

namespace loraplex::service {

using file_util::JoinPath;

FilesystemAdapterRegistry::FilesystemAdapterRegistry(
    FilesystemAdapterRegistryOptions options)
    : options_(std::move(options)),
      adapters_dir_(JoinPath(options_.root_dir, "adapters")),
      staging_dir_(JoinPath(options_.root_dir, ".staging")),
      trash_dir_(JoinPath(options_.root_dir, ".trash")),
      quarantine_dir_(JoinPath(options_.root_dir, ".quarantine")) {}

absl::StatusOr<std::unique_ptr<FilesystemAdapterRegistry>>
FilesystemAdapterRegistry::Open(FilesystemAdapterRegistryOptions options) {
  if (options.root_dir.empty()) {
    return absl::InvalidArgumentError("the registry directory is not set");
  }
  if (!options.validator) {
    return absl::InvalidArgumentError(
        "the registry needs an adapter validator");
  }
  if (options.max_upload_bytes == 0 || options.max_adapters_per_tenant < 0) {
    return absl::InvalidArgumentError(
        "max_upload_bytes must be positive and max_adapters_per_tenant "
        "must not be negative");
  }
  std::unique_ptr<FilesystemAdapterRegistry> registry(
      new FilesystemAdapterRegistry(std::move(options)));
  RETURN_IF_ERROR(registry->Recover());
  return registry;
}

std::string FilesystemAdapterRegistry::tenant_dir(
    const std::string& tenant) const {
  return JoinPath(adapters_dir_, tenant);
}

std::string FilesystemAdapterRegistry::adapter_dir(
    const AdapterRecord& record) const {
  return JoinPath(tenant_dir(record.tenant),
                  absl::StrCat(record.name, "@", record.version));
}

absl::StatusOr<const AdapterRecord*> FilesystemAdapterRegistry::CheckCanAdd(
    const UploadSpec& spec) const {
  const AdapterRef ref{spec.tenant, spec.name};
  auto found = records_.find(Key{ref.tenant, ref.name});
  if (found != records_.end()) {
    if (IsRetryOf(spec, found->second)) {
      return &found->second;  // Note [Idempotent upload].
    }
    return absl::AlreadyExistsError(
        absl::StrCat("adapter \"", ref.ToString(),
                     "\" already exists with other files, description or "
                     "visibility; delete it first"));
  }
  const int32_t limit = options_.max_adapters_per_tenant;
  if (limit > 0) {
    const auto first = records_.lower_bound(Key{ref.tenant, ""});
    int32_t count = 0;
    for (auto it = first; it != records_.end() && it->first.first == ref.tenant;
         ++it) {
      ++count;
    }
    if (count >= limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tenant \"", ref.tenant, "\" already has ", count,
                       " adapters, the server's limit"));
    }
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<StagedUpload>>
FilesystemAdapterRegistry::BeginUpload(const UploadSpec& spec) {
  RETURN_IF_ERROR(ValidateUploadSpec(spec, options_.max_upload_bytes));
  {
    absl::ReaderMutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckCanAdd(spec).status());
  }
  RetryPendingRemovals();
  ASSIGN_OR_RETURN(std::string id, file_util::RandomHex(16));
  ASSIGN_OR_RETURN(
      std::unique_ptr<FilesystemStagedUpload> upload,
      FilesystemStagedUpload::Create(
          spec, JoinPath(staging_dir_, id), options_.validator,
          options_.compressor,
          [this](const AdapterRecord& record, const std::string& staged_dir) {
            return Commit(record, staged_dir);
          },
          [this](const std::string& staged_dir) {
            RemoveOrRetryLater(staged_dir);
          }));
  return std::unique_ptr<StagedUpload>(std::move(upload));
}

absl::StatusOr<CommitOutcome> FilesystemAdapterRegistry::Commit(
    const AdapterRecord& record, const std::string& staged_dir) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const AdapterRecord* stored,
                   CheckCanAdd(UploadSpecOf(record)));
  if (stored != nullptr) {
    LogInfo("registry: upload of %s repeats the stored adapter; kept it",
            record.ref().ToString());
    return CommitOutcome{*stored, /*created=*/false};
  }
  const std::string tenant = tenant_dir(record.tenant);
  if (!file_util::IsDirectory(tenant)) {
    RETURN_IF_ERROR(file_util::MakeDirs(tenant));
    RETURN_IF_ERROR(file_util::SyncPath(adapters_dir_));
  }
  const std::string final_dir = adapter_dir(record);
  RETURN_IF_ERROR(file_util::Rename(staged_dir, final_dir));
  absl::Status synced = file_util::SyncPath(tenant);
  if (!synced.ok()) {
    // Not durable, so not committed: move it back for the caller to discard.
    file_util::Rename(final_dir, staged_dir).IgnoreError();
    return synced;
  }
  file_util::SyncPath(staging_dir_).IgnoreError();  // Tidiness only.
  records_[Key{record.tenant, record.name}] = record;
  LogInfo("registry: committed adapter %s (%d bytes)",
          record.engine_adapter_id(), record.size_bytes());
  return CommitOutcome{record, /*created=*/true};
}

absl::StatusOr<AdapterRecord> FilesystemAdapterRegistry::Get(
    const AdapterRef& ref) const {
  RETURN_IF_ERROR(ValidateTenantName(ref.tenant));
  RETURN_IF_ERROR(ValidateAdapterName(ref.name));
  absl::ReaderMutexLock lock(&mu_);
  auto it = records_.find(Key{ref.tenant, ref.name});
  if (it == records_.end()) {
    return AdapterNotFoundError(ref);
  }
  return it->second;
}

absl::StatusOr<AdapterPage> FilesystemAdapterRegistry::List(
    const ListQuery& query) const {
  ASSIGN_OR_RETURN(const int32_t page_size, ResolvePageSize(query.page_size));
  if (!query.tenant.empty()) {
    RETURN_IF_ERROR(ValidateTenantName(query.tenant));
  }
  // Start after the token's record, or at the tenant's first, whichever is
  // later.
  std::optional<Key> after;
  if (!query.page_token.empty()) {
    ASSIGN_OR_RETURN(AdapterRef last, DecodePageToken(query.page_token));
    after = Key{last.tenant, last.name};
  }
  const Key tenant_first{query.tenant, ""};
  absl::ReaderMutexLock lock(&mu_);
  auto it = after.has_value() ? records_.upper_bound(*after) : records_.begin();
  if (!query.tenant.empty() && (!after.has_value() || *after < tenant_first)) {
    it = records_.lower_bound(tenant_first);
  }
  AdapterPage page;
  for (; it != records_.end(); ++it) {
    const AdapterRecord& record = it->second;
    if (!query.tenant.empty() && record.tenant != query.tenant) {
      break;
    }
    if (!CanRead(query.viewer, record.tenant, record.visibility)) {
      continue;
    }
    if (static_cast<int32_t>(page.records.size()) == page_size) {
      // A further visible record exists: hand out a token to it.
      page.next_page_token = EncodePageToken(page.records.back().ref());
      break;
    }
    page.records.push_back(record);
  }
  return page;
}

absl::StatusOr<AdapterRecord> FilesystemAdapterRegistry::Delete(
    const AdapterRef& ref) {
  RETURN_IF_ERROR(ValidateTenantName(ref.tenant));
  RETURN_IF_ERROR(ValidateAdapterName(ref.name));
  RetryPendingRemovals();
  AdapterRecord record;
  {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(Key{ref.tenant, ref.name});
    if (it == records_.end()) {
      return AdapterNotFoundError(ref);
    }
    record = it->second;
    // Note [Deleting an adapter in use]: the tombstone replaces the record
    // file in one rename; the adapter's files stay where they are.
    const std::string dir = adapter_dir(record);
    RETURN_IF_ERROR(
        file_util::Rename(JoinPath(dir, kRegistryMetadataFilename),
                          JoinPath(dir, kRegistryTombstoneFilename)));
    records_.erase(it);
    absl::Status synced = file_util::SyncPath(dir);
    if (!synced.ok()) {
      // Gone for this process either way; a crash before the rename reaches
      // the disk would bring it back, which is logged, not hidden.
      LogWarning("registry: delete of %s may not be durable: %s",
                 record.engine_adapter_id(), synced.ToString());
    }
  }
  LogInfo("registry: deleted adapter %s", record.engine_adapter_id());
  return record;
}

void FilesystemAdapterRegistry::ReleaseDeletedFiles(
    const AdapterRecord& record) {
  RetryPendingRemovals();
  const std::string dir = adapter_dir(record);
  absl::StatusOr<std::string> id = file_util::RandomHex(16);
  if (!id.ok()) {
    RemoveOrRetryLater(dir);
    return;
  }
  const std::string trash = JoinPath(trash_dir_, *id);
  {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(Key{record.tenant, record.name});
    if (it != records_.end() && it->second.version == record.version) {
      return;  // Still stored: not deleted.
    }
    if (!file_util::IsDirectory(dir)) return;  // Released already.
    // Into .trash/ first, so that a removal cut short never leaves half an
    // adapter directory under adapters/.
    absl::Status moved = file_util::Rename(dir, trash);
    if (!moved.ok()) {
      LogWarning("registry: cannot move deleted adapter %s aside: %s",
                 record.engine_adapter_id(), moved.ToString());
      pending_removals_.push_back(dir);
      return;
    }
  }
  RemoveOrRetryLater(trash);
}

void FilesystemAdapterRegistry::RemoveOrRetryLater(const std::string& path) {
  absl::Status removed = file_util::RemoveTree(path);
  if (removed.ok()) return;
  LogWarning("registry: cannot remove %s (retried later): %s", path,
             removed.ToString());
  absl::MutexLock lock(&mu_);
  pending_removals_.push_back(path);
}

void FilesystemAdapterRegistry::RetryPendingRemovals() {
  std::vector<std::string> paths;
  {
    absl::MutexLock lock(&mu_);
    if (pending_removals_.empty()) return;
    paths.swap(pending_removals_);
  }
  std::vector<std::string> failed;
  for (const std::string& path : paths) {
    if (!file_util::RemoveTree(path).ok()) failed.push_back(path);
  }
  LogInfo("registry: removed %d of %d paths left over from failed removals",
          paths.size() - failed.size(), paths.size());
  if (failed.empty()) return;
  absl::MutexLock lock(&mu_);
  pending_removals_.insert(pending_removals_.end(), failed.begin(),
                           failed.end());
}

size_t FilesystemAdapterRegistry::pending_removals() const {
  absl::MutexLock lock(&mu_);
  return pending_removals_.size();
}

std::vector<AdapterRecord> FilesystemAdapterRegistry::ListAll() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<AdapterRecord> records;
  records.reserve(records_.size());
  for (const auto& [key, record] : records_) {
    records.push_back(record);
  }
  return records;
}

}  // namespace loraplex::service
