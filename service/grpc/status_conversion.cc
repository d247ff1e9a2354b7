#include "service/grpc/status_conversion.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace loraplex::service {

// The numeric values are identical by definition (both follow
// google.rpc.Code); these guard the cast below.
static_assert(static_cast<int>(absl::StatusCode::kResourceExhausted) ==
              static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
static_assert(static_cast<int>(absl::StatusCode::kDataLoss) ==
              static_cast<int>(grpc::StatusCode::DATA_LOSS));

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  if (code <= 0 || code > static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)) {
    return grpc::Status(grpc::StatusCode::UNKNOWN,
                        std::string(status.message()));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  if (code <= 0 ||
      code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(status.error_message());
  }
  return absl::Status(static_cast<absl::StatusCode>(code),
                      status.error_message());
}

grpc::Status ToClientStatus(const absl::Status& status,
                            const ErrorScrubber& scrubber,
                            grpc::ServerContextBase& context,
                            absl::Duration retry_after) {
  return ToGrpcStatusWithRetryHint(scrubber.Scrub(status), context,
                                   retry_after);
}

grpc::Status ToGrpcStatusWithRetryHint(const absl::Status& status,
                                       grpc::ServerContextBase& context,
                                       absl::Duration retry_after) {
  if (!absl::IsResourceExhausted(status)) return ToGrpcStatus(status);
  const int64_t millis = absl::ToInt64Milliseconds(retry_after);
  context.AddTrailingMetadata(kRetryAfterMetadataKey, absl::StrCat(millis));
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat(status.message(), " (retry after ", millis, " ms)"));
}

}  // namespace loraplex::service
