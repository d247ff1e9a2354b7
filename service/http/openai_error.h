// The one place where absl::Status (every module's error type) meets what
// an HTTP client of the OpenAI-compatible API sees: an HTTP status and
// OpenAI's error body
//
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
//
// with `Retry-After` (and `retry-after-ms`, which OpenAI's SDKs read
// first) on 429. Messages are scrubbed first (Note [Client-visible errors]
// in service/frontend/error_scrubber.h).
#ifndef LORAPLEX_SERVICE_HTTP_OPENAI_ERROR_H_
#define LORAPLEX_SERVICE_HTTP_OPENAI_ERROR_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/frontend/error_scrubber.h"

namespace loraplex::service {

// The back-off suggested when the engine's admission queue is full, as
// gRPC's (service/grpc/status_conversion.h kQueueFullRetryAfter).
inline constexpr absl::Duration kHttpQueueFullRetryAfter =
    absl::Milliseconds(200);

// INVALID_ARGUMENT about one request field: `message` names it, and the
// error body's "param" is `field` (e.g. "temperature", "messages[2].role").
absl::Status FieldError(absl::string_view field, absl::string_view message);
// `status` (any code) about the request field `field`.
absl::Status WithParam(absl::Status status, absl::string_view field);
// The field a FieldError names; nullopt for other statuses.
std::optional<std::string> ErrorParam(const absl::Status& status);

// INVALID_ARGUMENT for a field the server understands but cannot honour
// without changing what the request means (OpenAI's code
// "unsupported_parameter"), e.g. n > 1.
absl::Status UnsupportedField(absl::string_view field,
                              absl::string_view message);

// 400 INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE, 401
// UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409
// ALREADY_EXISTS / ABORTED, 429 RESOURCE_EXHAUSTED, 499 CANCELLED (the
// client left; never sent), 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504
// DEADLINE_EXCEEDED, 500 otherwise.
int HttpStatusFor(absl::StatusCode code);

struct HttpErrorResponse {
  int status = 500;
  std::string body;  // OpenAI's error JSON.
  // Set for 429: seconds (at least 1) for Retry-After, and milliseconds.
  std::optional<int64_t> retry_after_seconds;
  std::optional<int64_t> retry_after_ms;
};

// The answer for a failed request. `status` must not be OK.
HttpErrorResponse ToHttpError(const absl::Status& status,
                              const ErrorScrubber& scrubber);
// The error object alone ({"message", "type", "param", "code"}), for an
// error that ends a stream (`data: {"error": ...}`), as JSON text.
std::string OpenAiErrorObjectJson(const absl::Status& status,
                                  const ErrorScrubber& scrubber);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_OPENAI_ERROR_H_
