// The one place where absl::Status (every module's error type) and
// grpc::Status (what clients see) meet. The two code sets are the same
// canonical codes with the same numbers, so the mapping is 1:1 and keeps the
// message; servicers never build a grpc::Status by hand.
#ifndef LORAPLEX_SERVICE_GRPC_STATUS_CONVERSION_H_
#define LORAPLEX_SERVICE_GRPC_STATUS_CONVERSION_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "service/frontend/error_scrubber.h"

namespace loraplex::service {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Trailing metadata key of the back-off hint sent with RESOURCE_EXHAUSTED
// (generation.proto): milliseconds as a decimal integer.
inline constexpr char kRetryAfterMetadataKey[] = "retry-after-ms";
// The back-off suggested when the admission queue is full: about the time a
// few decoding steps take to drain some of it.
inline constexpr absl::Duration kQueueFullRetryAfter = absl::Milliseconds(200);
// The back-off suggested when an upload is refused for the upload limits or
// a full commit queue (Note [Upload limits]): uploads take seconds.
inline constexpr absl::Duration kUploadRetryAfter = absl::Seconds(1);

// For an engine refusal: RESOURCE_EXHAUSTED gets " (retry after N ms)"
// appended to its message and the `retry-after-ms` trailing metadata added
// to `context`; any other status is converted unchanged. Call before the
// RPC's Finish, once.
grpc::Status ToGrpcStatusWithRetryHint(
    const absl::Status& status, grpc::ServerContextBase& context,
    absl::Duration retry_after = kQueueFullRetryAfter);

// What every RPC ends with: `status` scrubbed of server paths and internal
// ids (Note [Client-visible errors] in error_scrubber.h), then as
// ToGrpcStatusWithRetryHint.
grpc::Status ToClientStatus(const absl::Status& status,
                            const ErrorScrubber& scrubber,
                            grpc::ServerContextBase& context,
                            absl::Duration retry_after = kQueueFullRetryAfter);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_STATUS_CONVERSION_H_
