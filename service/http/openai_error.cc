#include "service/http/openai_error.h"

#include <cstdint>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "service/http/json_text.h"

namespace loraplex::service {
namespace {

// Status payloads (never shown to clients): the field an error is about,
// and the marker of an unsupported one.
constexpr char kParamPayload[] = "type.loraplex.dev/openai.param";
constexpr char kUnsupportedPayload[] = "type.loraplex.dev/openai.unsupported";

// OpenAI's "type" for a status code.
const char* ErrorType(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnauthenticated:
      return "invalid_request_error";
    case absl::StatusCode::kPermissionDenied:
      return "permission_error";
    case absl::StatusCode::kResourceExhausted:
      return "rate_limit_error";
    case absl::StatusCode::kUnavailable:
      return "service_unavailable_error";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout_error";
    default:
      break;
  }
  return "server_error";
}

// OpenAI's "code" (null when it has none for the case).
nlohmann::ordered_json ErrorCode(const absl::Status& status) {
  if (status.GetPayload(kUnsupportedPayload).has_value()) {
    return "unsupported_parameter";
  }
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      return "invalid_api_key";
    case absl::StatusCode::kNotFound:
      return ErrorParam(status) == "model" ? "model_not_found" : "not_found";
    case absl::StatusCode::kResourceExhausted:
      return "rate_limit_exceeded";
    default:
      break;
  }
  return nullptr;
}

nlohmann::ordered_json ErrorObject(const absl::Status& status,
                                   const ErrorScrubber& scrubber) {
  const std::optional<std::string> param = ErrorParam(status);
  nlohmann::ordered_json error = {
      {"message", scrubber.Scrub(status.message())},
      {"type", ErrorType(status.code())},
      {"param", param.has_value() ? nlohmann::ordered_json(*param) : nullptr},
      {"code", ErrorCode(status)},
  };
  return error;
}

}  // namespace

absl::Status FieldError(absl::string_view field, absl::string_view message) {
  return WithParam(absl::InvalidArgumentError(message), field);
}

absl::Status WithParam(absl::Status status, absl::string_view field) {
  status.SetPayload(kParamPayload, absl::Cord(field));
  return status;
}

std::optional<std::string> ErrorParam(const absl::Status& status) {
  const auto param = status.GetPayload(kParamPayload);
  if (!param.has_value()) return std::nullopt;
  return std::string(*param);
}

absl::Status UnsupportedField(absl::string_view field,
                              absl::string_view message) {
  absl::Status status = FieldError(field, message);
  status.SetPayload(kUnsupportedPayload, absl::Cord("1"));
  return status;
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      break;
  }
  return 500;
}

HttpErrorResponse ToHttpError(const absl::Status& status,
                              const ErrorScrubber& scrubber) {
  HttpErrorResponse response;
  response.status = HttpStatusFor(status.code());
  response.body = JsonText(
      nlohmann::ordered_json{{"error", ErrorObject(status, scrubber)}});
  if (absl::IsResourceExhausted(status)) {
    const int64_t millis = absl::ToInt64Milliseconds(kHttpQueueFullRetryAfter);
    response.retry_after_ms = millis;
    response.retry_after_seconds = (millis + 999) / 1000;
  }
  return response;
}

std::string OpenAiErrorObjectJson(const absl::Status& status,
                                  const ErrorScrubber& scrubber) {
  return JsonText(ErrorObject(status, scrubber));
}

}  // namespace loraplex::service
