#include "service/grpc/upload_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/auth/access.h"
#include "service/auth/names.h"
#include "service/grpc/call_auth.h"
#include "service/grpc/proto_conversion.h"
#include "service/grpc/raw_messages.h"
#include "service/grpc/status_conversion.h"

namespace loraplex::service {

UploadAdapterReactor::UploadAdapterReactor(const ServicerDeps& deps,
                                           grpc::CallbackServerContext* context,
                                           grpc::ByteBuffer* response)
    : deps_(deps), context_(context), response_(response) {
  // OnDone cannot run before this constructor has returned.
  absl::MutexLock lock(&call_->mu);
  absl::StatusOr<Principal> caller = AdmitCall(deps_, *context);
  if (!caller.ok()) {
    EndLocked(caller.status());
    return;
  }
  caller_ = *std::move(caller);
  authenticated_ = true;
  absl::StatusOr<std::unique_ptr<UploadLease>> lease =
      deps_.uploads->Admit(caller_.tenant, this);
  if (!lease.ok()) {
    EndLocked(lease.status());
    return;
  }
  lease_ = *std::move(lease);
  StartRead(&request_);
}

void UploadAdapterReactor::OnReadDone(bool ok) {
  lease_->Touch();
  // Keeps the mutex alive should a Finish below let OnDone delete `this`.
  const std::shared_ptr<CallState> keep_alive = call_;
  if (!ok) {
    // The client closed its side, or the call was cancelled (dropped).
    absl::MutexLock lock(&call_->mu);
    if (call_->phase != Phase::kReceiving) return;
    if (cancelled_ || context_->IsCancelled()) {
      EndLocked(absl::CancelledError("the upload was cancelled"));
    } else if (staged_ == nullptr) {
      EndLocked(
          absl::InvalidArgumentError("the upload ended before its header"));
    } else {
      StartCommitLocked();
    }
    return;
  }
  {
    absl::MutexLock lock(&call_->mu);
    if (call_->phase != Phase::kReceiving) return;  // A deadline ended it.
  }
  const absl::Status status = HandleMessage();
  absl::MutexLock lock(&call_->mu);
  if (call_->phase != Phase::kReceiving) return;
  if (!status.ok()) {
    EndLocked(status);
    return;
  }
  StartRead(&request_);
}

void UploadAdapterReactor::OnCancel() { cancelled_ = true; }

void UploadAdapterReactor::OnDone() {
  // gRPC runs OnDone after the last OnReadDone has returned, but hands it
  // over through its own executor, which ThreadSanitizer cannot see. Every
  // OnReadDone takes call_->mu after its last use of lease_, so taking it
  // here makes that order visible. Not held below: destroying the lease
  // takes the lease's mutex, which a deadline holds while taking call_->mu.
  { absl::MutexLock lock(&call_->mu); }
  lease_.reset();   // The slot is free again; no deadline comes any more.
  staged_.reset();  // Discards the upload unless it committed.
  delete this;
}

void UploadAdapterReactor::OnDeadlineLocked(absl::Status status) {
  const std::shared_ptr<CallState> keep_alive = call_;
  absl::MutexLock lock(&call_->mu);
  if (call_->phase == Phase::kReceiving) EndLocked(status);
}

absl::Status UploadAdapterReactor::HandleMessage() {
  RETURN_IF_ERROR(ParseRequest(request_, &message_));
  switch (message_.part_case()) {
    case v1::UploadAdapterRequest::kHeader:
      return HandleHeader(message_.header());
    case v1::UploadAdapterRequest::kChunk:
      return HandleChunk(message_.chunk());
    case v1::UploadAdapterRequest::PART_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "an upload message must hold a header or a chunk");
}

absl::Status UploadAdapterReactor::HandleHeader(
    const v1::UploadHeader& header) {
  if (staged_ != nullptr) {
    return absl::InvalidArgumentError("a second header came; send it once");
  }
  if (!header.owner().empty())
    RETURN_IF_ERROR(ValidateTenantName(header.owner()));
  ASSIGN_OR_RETURN(UploadSpec spec, ToUploadSpec(header, caller_));
  RETURN_IF_ERROR(CheckUploadOwner(caller_, spec.tenant));
  ASSIGN_OR_RETURN(staged_, deps_.registry->BeginUpload(spec));
  return absl::OkStatus();
}

absl::Status UploadAdapterReactor::HandleChunk(const v1::FileChunk& chunk) {
  if (staged_ == nullptr) {
    return absl::InvalidArgumentError(
        "the first message of an upload must be its header");
  }
  bytes_received_ += chunk.data().size();
  return staged_->WriteChunk(chunk.filename(), chunk.offset(), chunk.data());
}

void UploadAdapterReactor::StartCommitLocked() {
  call_->phase = Phase::kCommitting;
  lease_->StopDeadlines();
  // Note [No RPC kind starves another]: commits take turns by tenant.
  const absl::Status scheduled =
      deps_.upload_executor->TrySchedule(caller_.tenant, [this] { Commit(); });
  if (!scheduled.ok()) EndLocked(scheduled);
}

void UploadAdapterReactor::Commit() {
  const absl::Status status = CommitAndRegister();
  const std::shared_ptr<CallState> keep_alive = call_;
  absl::MutexLock lock(&call_->mu);
  EndLocked(status);
}

absl::Status UploadAdapterReactor::CommitAndRegister() {
  ASSIGN_OR_RETURN(const AdapterRecord record, staged_->Finish());
  if (staged_->created_new()) {
    const absl::Status registered = deps_.engine->RegisterAdapter(
        record.engine_adapter_id(), deps_.registry->adapter_dir(record));
    if (!registered.ok()) {
      // Stored but unusable: take it back so the upload stays all or
      // nothing. The engine never had it, so its files can go at once.
      const absl::Status rollback =
          deps_.registry->Delete(record.ref()).status();
      if (rollback.ok()) {
        deps_.registry->ReleaseDeletedFiles(record);
      } else {
        LogError("upload of %s: rolling back failed: %s",
                 record.ref().ToString(), rollback.ToString());
      }
      return absl::InternalError(absl::StrCat(
          "the engine refused the committed adapter: ", registered.message()));
    }
  }
  ToProtoAdapter(record, &reply_);
  return SerializeReply(reply_, response_);
}

void UploadAdapterReactor::EndLocked(const absl::Status& status) {
  call_->phase = Phase::kEnded;
  const std::string tenant = authenticated_ ? caller_.tenant : "";
  const uint64_t bytes = bytes_received_.load();
  if (bytes > 0) deps_.metrics->RecordUploadBytes(tenant, bytes);
  deps_.metrics->RecordRequest(ServerMetrics::Api::kGrpc, tenant,
                               "UploadAdapter", status.code());
  Finish(ToClientStatus(status, *deps_.scrubber, *context_, kUploadRetryAfter));
}

}  // namespace loraplex::service
