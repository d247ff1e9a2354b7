// A minimal HTTP/1.0 GET client for 127.0.0.1, enough to read a Prometheus
// /metrics page and Prometheus's HTTP API in tests without extra libraries.
#ifndef LORAPLEX_TESTS_DEPLOY_LOOPBACK_HTTP_H_
#define LORAPLEX_TESTS_DEPLOY_LOOPBACK_HTTP_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace loraplex::deploy_test {

struct HttpResponse {
  int status_code = 0;
  std::string body;
};

// GETs `path_and_query` (already URL-encoded) from 127.0.0.1:`port`. Blocks
// up to `timeout` for the whole exchange. UNAVAILABLE when nothing listens
// or the connection breaks; DEADLINE_EXCEEDED on timeout; DATA_LOSS when the
// reply is not HTTP. Any HTTP status is returned as a response, not an error.
absl::StatusOr<HttpResponse> HttpGet(
    int port, absl::string_view path_and_query,
    absl::Duration timeout = absl::Seconds(10));

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string UrlEncode(absl::string_view value);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// released). INTERNAL if no socket could be bound.
absl::StatusOr<int> PickFreePort();

}  // namespace loraplex::deploy_test

#endif  // LORAPLEX_TESTS_DEPLOY_LOOPBACK_HTTP_H_
