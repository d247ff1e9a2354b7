// One POST /v1/completions or /v1/chat/completions, on the HTTP worker
// thread that answers it (Note [Waiting handlers] in bounded_http_server.h):
// authenticate the caller, parse the body, resolve `model` (the base
// model's id, or an adapter name resolved as gRPC resolves one: the same
// registry, access rules and engine submission, service/frontend/
// adapter_resolution.h), render the chat template, submit to the engine
// with the caller's tenant as the fair admission key, then answer, as one
// JSON body or as Server-Sent Events, while watching the client: a client
// that leaves cancels the engine request (its slot is freed at the next
// step). Every request is counted once in the metrics, api="http".
#ifndef LORAPLEX_SERVICE_HTTP_COMPLETION_CALL_H_
#define LORAPLEX_SERVICE_HTTP_COMPLETION_CALL_H_

#include <httplib.h>

#include "service/http/openai_deps.h"
#include "service/http/openai_request.h"

namespace loraplex::service {

// Answers `request` into `response`; blocks until a non-streamed answer is
// complete, or sets a content provider that streams the events (and then
// runs on the same thread, after this returns). `deps` must outlive the
// answer.
void ServeCompletion(const OpenAiDeps& deps, OpenAiEndpoint endpoint,
                     const httplib::Request& request,
                     httplib::Response& response);

// Sets `response` to the OpenAI error answer for `status` (not OK):
// status code, error JSON, Retry-After on 429.
void SetErrorResponse(const absl::Status& status, const ErrorScrubber& scrubber,
                      httplib::Response& response);

// The caller of `request`: its `Authorization: Bearer <key>` header through
// the key store (open mode: the default tenant). UNAUTHENTICATED when it is
// missing, malformed or unknown, or sent more than once.
absl::StatusOr<Principal> AuthenticateHttpRequest(
    const ApiKeyStore& keys, const httplib::Request& request);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_COMPLETION_CALL_H_
