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

absl::Status FilesystemAdapterRegistry::CheckCanAdd(
    const AdapterRef& ref) const {
  const Key key{ref.tenant, ref.name};
  if (records_.count(key) != 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "adapter \"", ref.ToString(), "\" already exists; delete it first"));
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
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StagedUpload>>
FilesystemAdapterRegistry::BeginUpload(const UploadSpec& spec) {
  RETURN_IF_ERROR(ValidateUploadSpec(spec, options_.max_upload_bytes));
  {
    absl::ReaderMutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckCanAdd(AdapterRef{spec.tenant, spec.name}));
  }
  ASSIGN_OR_RETURN(std::string id, file_util::RandomHex(16));
  ASSIGN_OR_RETURN(
      std::unique_ptr<FilesystemStagedUpload> upload,
      FilesystemStagedUpload::Create(
          spec, JoinPath(staging_dir_, id), options_.validator,
          [this](const AdapterRecord& record, const std::string& staged_dir) {
            return Commit(record, staged_dir);
          }));
  return std::unique_ptr<StagedUpload>(std::move(upload));
}

absl::StatusOr<AdapterRecord> FilesystemAdapterRegistry::Commit(
    const AdapterRecord& record, const std::string& staged_dir) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckCanAdd(record.ref()));
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
  return record;
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
  ASSIGN_OR_RETURN(std::string id, file_util::RandomHex(16));
  const std::string trash = JoinPath(trash_dir_, id);
  AdapterRecord record;
  {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(Key{ref.tenant, ref.name});
    if (it == records_.end()) {
      return AdapterNotFoundError(ref);
    }
    record = it->second;
    RETURN_IF_ERROR(file_util::Rename(adapter_dir(record), trash));
    records_.erase(it);
    absl::Status synced = file_util::SyncPath(tenant_dir(record.tenant));
    if (!synced.ok()) {
      // Gone for this process either way; a crash before the rename reaches
      // the disk would bring it back, which is logged, not hidden.
      LogWarning("registry: delete of %s may not be durable: %s",
                 record.engine_adapter_id(), synced.ToString());
    }
  }
  absl::Status removed = file_util::RemoveTree(trash);
  if (!removed.ok()) {
    LogWarning("registry: cannot remove %s (next start-up will): %s", trash,
               removed.ToString());
  }
  LogInfo("registry: deleted adapter %s", record.engine_adapter_id());
  return record;
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
