// Status -> HTTP status and OpenAI's error JSON, scrubbed, with Retry-After
// on 429.
#include "service/http/openai_error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(OpenAiErrorTest, StatusCodesMapToHttp) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnknown), 500);
}

TEST(OpenAiErrorTest, BodyHasOpenAisFieldsAndAScrubbedMessage) {
  const ErrorScrubber scrubber("/srv/registry", "/srv/models/m");
  const HttpErrorResponse error = ToHttpError(
      FieldError("temperature", "bad file /srv/models/m/config.json"),
      scrubber);
  EXPECT_EQ(error.status, 400);
  const nlohmann::json body = nlohmann::json::parse(error.body);
  EXPECT_EQ(body["error"]["message"], "bad file <model>/config.json");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "temperature");
  EXPECT_TRUE(body["error"]["code"].is_null());
  EXPECT_FALSE(error.retry_after_seconds.has_value());
  EXPECT_THAT(error.body, Not(HasSubstr("/srv")));
}

TEST(OpenAiErrorTest, CodesOfTheCasesSdksTellApart) {
  const ErrorScrubber scrubber("", "");
  const auto code = [&](const absl::Status& status) {
    return nlohmann::json::parse(
        ToHttpError(status, scrubber).body)["error"]["code"];
  };
  EXPECT_EQ(code(absl::UnauthenticatedError("no key")), "invalid_api_key");
  EXPECT_EQ(code(WithParam(absl::NotFoundError("no"), "model")),
            "model_not_found");
  EXPECT_EQ(code(UnsupportedField("n", "n > 1")), "unsupported_parameter");
  EXPECT_EQ(code(absl::ResourceExhaustedError("full")), "rate_limit_exceeded");
  EXPECT_EQ(ErrorParam(UnsupportedField("n", "x")), "n");
  EXPECT_EQ(ErrorParam(absl::InvalidArgumentError("x")), std::nullopt);
}

TEST(OpenAiErrorTest, QueueFullIs429WithRetryAfter) {
  const HttpErrorResponse error = ToHttpError(
      absl::ResourceExhaustedError("the queue is full"), ErrorScrubber("", ""));
  EXPECT_EQ(error.status, 429);
  EXPECT_EQ(error.retry_after_seconds, 1);  // 200 ms, rounded up.
  EXPECT_EQ(error.retry_after_ms, 200);
  EXPECT_EQ(nlohmann::json::parse(error.body)["error"]["type"],
            "rate_limit_error");
}

TEST(OpenAiErrorTest, InvalidUtf8NeverThrows) {
  const HttpErrorResponse error = ToHttpError(
      absl::InvalidArgumentError("model \xff\xfe"), ErrorScrubber("", ""));
  EXPECT_EQ(error.status, 400);
  EXPECT_THAT(error.body, HasSubstr("model \xEF\xBF\xBD"));  // U+FFFD.
}

}  // namespace
}  // namespace loraplex::service
