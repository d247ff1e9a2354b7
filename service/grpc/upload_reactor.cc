#include "service/grpc/upload_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/auth/access.h"
#include "service/auth/names.h"
#include "service/grpc/call_auth.h"
#include "service/grpc/proto_conversion.h"
#include "service/grpc/status_conversion.h"

namespace loraplex::service {

UploadAdapterReactor::UploadAdapterReactor(const ServicerDeps& deps,
                                           grpc::CallbackServerContext* context,
                                           v1::Adapter* response)
    : deps_(deps), context_(context), response_(response) {
  absl::StatusOr<Principal> caller = AuthenticateCall(*deps_.api_keys, *context);
  if (!caller.ok()) {
    End(caller.status());
    return;
  }
  caller_ = *std::move(caller);
  authenticated_ = true;
  StartRead(&message_);
}

void UploadAdapterReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The client closed its side, or the call was cancelled (dropped).
    if (cancelled_ || context_->IsCancelled()) {
      End(absl::CancelledError("the upload was cancelled"));
    } else if (staged_ == nullptr) {
      End(absl::InvalidArgumentError("the upload ended before its header"));
    } else {
      deps_.executor->Schedule([this] { Commit(); });
    }
    return;
  }
  absl::Status status = HandleMessage(message_);
  if (!status.ok()) {
    End(std::move(status));
    return;
  }
  StartRead(&message_);
}

void UploadAdapterReactor::OnCancel() { cancelled_ = true; }

void UploadAdapterReactor::OnDone() { delete this; }

absl::Status UploadAdapterReactor::HandleMessage(
    const v1::UploadAdapterRequest& message) {
  switch (message.part_case()) {
    case v1::UploadAdapterRequest::kHeader:
      return HandleHeader(message.header());
    case v1::UploadAdapterRequest::kChunk:
      return HandleChunk(message.chunk());
    case v1::UploadAdapterRequest::PART_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "an upload message must hold a header or a chunk");
}

absl::Status UploadAdapterReactor::HandleHeader(const v1::UploadHeader& header) {
  if (staged_ != nullptr) {
    return absl::InvalidArgumentError("a second header came; send it once");
  }
  if (!header.owner().empty()) RETURN_IF_ERROR(ValidateTenantName(header.owner()));
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

void UploadAdapterReactor::Commit() { End(CommitAndRegister()); }

absl::Status UploadAdapterReactor::CommitAndRegister() {
  ASSIGN_OR_RETURN(const AdapterRecord record, staged_->Finish());
  const absl::Status registered = deps_.engine->RegisterAdapter(
      record.engine_adapter_id(), deps_.registry->adapter_dir(record));
  if (!registered.ok()) {
    // Stored but unusable: take it back so the upload stays all or nothing.
    const absl::Status rollback = deps_.registry->Delete(record.ref()).status();
    if (!rollback.ok()) {
      LogError("upload of %s: rolling back failed: %s", record.ref().ToString(),
               rollback.ToString());
    }
    return absl::InternalError(absl::StrCat(
        "the engine refused the committed adapter: ", registered.message()));
  }
  ToProtoAdapter(record, response_);
  return absl::OkStatus();
}

void UploadAdapterReactor::End(absl::Status status) {
  staged_.reset();  // Discards the upload unless it committed.
  const std::string tenant = authenticated_ ? caller_.tenant : "";
  if (bytes_received_ > 0) deps_.metrics->RecordUploadBytes(tenant, bytes_received_);
  deps_.metrics->RecordRequest(tenant, "UploadAdapter", status.code());
  Finish(ToGrpcStatus(status));
}

}  // namespace loraplex::service
