// AdapterRegistry: the durable, tenant-scoped store of uploaded adapters.
//
// The interface is what the servicers use; FilesystemAdapterRegistry
// (filesystem_adapter_registry.h) is the embedded backend, and a shared
// backend for several replicas (e.g. PostgreSQL + object store) would
// implement the same. Every method is thread-safe. Names and refs passed in
// are validated (INVALID_ARGUMENT); access rules are the caller's job
// (service/auth/access.h), except that List shows a viewer only what it may
// read.
//
// Uploads are all-or-nothing: BeginUpload hands out a StagedUpload that
// receives the files; only a successful Finish() makes the adapter visible,
// and a StagedUpload destroyed before that leaves nothing behind.
//
// Note [Idempotent upload]: a client cannot tell an upload that failed from
// one that committed just before its call was cancelled or cut off. So an
// upload of a name the tenant already has succeeds without storing anything
// when it is a retry of the stored one: the same two files (sizes and
// sha256), description and visibility. It still sends and verifies every
// byte, and answers with the stored adapter (its version and create time).
// Anything else under a taken name is ALREADY_EXISTS.
#ifndef LORAPLEX_SERVICE_REGISTRY_ADAPTER_REGISTRY_H_
#define LORAPLEX_SERVICE_REGISTRY_ADAPTER_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/lora/lora_adapter.h"
#include "service/auth/access.h"
#include "service/auth/names.h"
#include "service/auth/principal.h"
#include "service/registry/adapter_record.h"

namespace loraplex::service {

// Checks a complete, hash-verified upload (in a directory holding exactly
// the two adapter files) against the base model. The server passes the
// engine's ValidateAdapter. StagedUpload::Finish returns its error,
// typically INVALID_ARGUMENT, with the same code and message, except that
// the staging directory's path is replaced by "<tenant>/<name>" (clients
// should not see server paths).
using AdapterValidator =
    std::function<absl::StatusOr<engine::LoraAdapterSummary>(
        const std::string& staged_dir)>;

// Rewrites the adapter in `staged_dir` (the two verified files) as `request`
// asks, in place: afterwards the directory holds the two files to store,
// which the validator then checks. Returns what it did; the registry fills
// in uploaded_files, the request, stored_rank, and original_rank when it
// left the files as uploaded (compressed false). Called by StagedUpload::Finish
// only when request.target is not kNone. The server passes a truncated-SVD
// compression (engine/train/adapter_compression.h); its errors are the
// upload's (INVALID_ARGUMENT for an adapter it cannot parse or a rank over
// the server's limit).
using AdapterCompressor = std::function<absl::StatusOr<StoredCompression>(
    const std::string& staged_dir, const CompressionRequest& request)>;

inline constexpr size_t kMaxUploadChunkBytes = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kMaxDescriptionBytes = 1024;
inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr int32_t kMaxPageSize = 1000;

// What the client declared before sending the files.
struct UploadSpec {
  std::string tenant;  // Owner of the new adapter.
  std::string name;
  std::string description;  // Valid UTF-8, at most kMaxDescriptionBytes.
  Visibility visibility = Visibility::kPrivate;
  // Exactly one entry per adapter file (any order). sha256 is 64 hex digits
  // in either case.
  std::vector<AdapterFileRecord> files;
  CompressionRequest compression;  // UploadHeader.compression.
};

// Whether `spec` uploads exactly what `stored` holds (Note [Idempotent
// upload]): the same files (sha256 compared case-insensitively; the files
// as uploaded when it was compressed), description, visibility and
// compression request.
bool IsRetryOf(const UploadSpec& spec, const AdapterRecord& stored);

// The spec of the upload that stored `record`: with compression, the files
// as uploaded and the request.
UploadSpec UploadSpecOf(const AdapterRecord& record);

// Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool IsValidUtf8(absl::string_view text);

// Checks an UploadSpec against the rules every backend shares: names,
// description, the two files with well-formed digests, a compression rank
// of at least 1 or energy in (0, 1]. INVALID_ARGUMENT, or
// RESOURCE_EXHAUSTED when the declared sizes add up to more than
// `max_upload_bytes`.
absl::Status ValidateUploadSpec(const UploadSpec& spec,
                                uint64_t max_upload_bytes);

// One upload in progress. Used by one thread (the RPC's reader) at a time;
// the registry that made it must outlive it. Any error from WriteChunk or
// Finish aborts the upload: what was received is discarded at once and
// later calls answer FAILED_PRECONDITION.
class StagedUpload {
 public:
  // Discards everything unless Finish() succeeded.
  virtual ~StagedUpload() = default;

  // Appends `data` to `filename`. INVALID_ARGUMENT when the file is not one
  // of the two declared, `offset` is not the number of bytes of it received
  // so far, `data` is empty or over kMaxUploadChunkBytes, or the file would
  // grow past its declared size. Storage errors pass through (a full disk
  // is RESOURCE_EXHAUSTED).
  virtual absl::Status WriteChunk(absl::string_view filename, uint64_t offset,
                                  absl::string_view data) = 0;

  // Verifies, compresses (when the spec asks), validates and commits;
  // returns the stored record. Errors:
  // INVALID_ARGUMENT when a file is shorter than declared; DATA_LOSS when
  // a file's sha256 differs from the declared one; the compressor's or the
  // validator's error
  // (see AdapterValidator); ALREADY_EXISTS / RESOURCE_EXHAUSTED when,
  // meanwhile, another upload took the name or the tenant's last free place.
  // Nothing is stored on any error. A retry of the stored adapter returns
  // that adapter (Note [Idempotent upload]; created_new() is then false).
  virtual absl::StatusOr<AdapterRecord> Finish() = 0;

  virtual const UploadSpec& spec() const = 0;
  virtual uint64_t bytes_received() const = 0;  // Over both files.
  // After a successful Finish: true when this upload stored the adapter,
  // false when it was a retry of the one already stored.
  virtual bool created_new() const = 0;
};

struct ListQuery {
  // Only adapters this principal may read (service/auth/access.h CanRead)
  // are listed.
  Principal viewer;
  std::string tenant;  // Only this owner's adapters; empty = every owner.
  // 0 = kDefaultPageSize; larger than kMaxPageSize = kMaxPageSize;
  // negative = INVALID_ARGUMENT.
  int32_t page_size = 0;
  // From AdapterPage::next_page_token; empty = first page. INVALID_ARGUMENT
  // when malformed.
  std::string page_token;
};

struct AdapterPage {
  std::vector<AdapterRecord> records;  // Ordered by (tenant, name).
  // Opaque; empty when this is the last page. A token names the last
  // record of its page, so adapters added or deleted meanwhile never make
  // the next page repeat or skip others.
  std::string next_page_token;
};

// Page tokens shared by every backend.
std::string EncodePageToken(const AdapterRef& last);
absl::StatusOr<AdapterRef> DecodePageToken(absl::string_view token);
// The effective page size for ListQuery::page_size.
absl::StatusOr<int32_t> ResolvePageSize(int32_t page_size);

class AdapterRegistry {
 public:
  virtual ~AdapterRegistry() = default;

  // Starts an upload. Errors: ValidateUploadSpec's; ALREADY_EXISTS if the
  // tenant already has an adapter of that name that this upload is not a
  // retry of (Note [Idempotent upload]); RESOURCE_EXHAUSTED if the tenant is
  // at its adapter limit. (Both are checked again at commit.)
  virtual absl::StatusOr<std::unique_ptr<StagedUpload>> BeginUpload(
      const UploadSpec& spec) = 0;

  // NOT_FOUND (service/auth/access.h AdapterNotFoundError) if absent.
  virtual absl::StatusOr<AdapterRecord> Get(const AdapterRef& ref) const = 0;

  // One page of the adapters `query.viewer` may read, in (tenant, name)
  // order. INVALID_ARGUMENT for a bad page size, page token or tenant.
  virtual absl::StatusOr<AdapterPage> List(const ListQuery& query) const = 0;

  // Note [Deleting an adapter in use]: Delete unpublishes the adapter at
  // once and durably (a crash afterwards never brings it back), and the
  // name may be uploaded again at once; but the files stay readable at
  // adapter_dir(record) for requests that are still using them, until the
  // caller, told by the engine that nothing reads them any more, calls
  // ReleaseDeletedFiles. Returns the deleted record so the caller can
  // unregister engine_adapter_id() from the engine. NOT_FOUND if absent.
  virtual absl::StatusOr<AdapterRecord> Delete(const AdapterRef& ref) = 0;

  // Removes a deleted adapter's files (see Delete); a no-op for a record
  // that is still stored. Does file I/O: call it where blocking is fine.
  // Files it cannot remove now are retried later (and at the next start).
  virtual void ReleaseDeletedFiles(const AdapterRecord& record) = 0;

  // Every stored adapter in (tenant, name) order: for registering them with
  // the engine at start-up.
  virtual std::vector<AdapterRecord> ListAll() const = 0;

  // The local directory holding the record's two files, for
  // Engine::RegisterAdapter. Stays valid until ReleaseDeletedFiles.
  virtual std::string adapter_dir(const AdapterRecord& record) const = 0;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_REGISTRY_ADAPTER_REGISTRY_H_
