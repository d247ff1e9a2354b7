// A plain-HTTP GET client (cpp-httplib), for the tools and the tests that
// read a Prometheus /metrics page or Prometheus's HTTP API.
#ifndef LORAPLEX_TOOLS_METRICS_CLIENT_HTTP_GET_H_
#define LORAPLEX_TOOLS_METRICS_CLIENT_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace loraplex::metrics_client {

struct HttpResponse {
  int status_code = 0;
  std::string body;
};

// GETs `url` ("http://host:port/path?query", the query already
// URL-encoded; host may be "[v6addr]"). `timeout` bounds connecting and
// each wait for the server to send or take bytes. Any HTTP status is a
// response, not an error. INVALID_ARGUMENT for a URL that is not plain
// http://host:port/...; UNAVAILABLE when it cannot connect, or the
// connection breaks or stalls before the whole answer arrived.
absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout);

// The body of a 200 answer to GET `url`; FAILED_PRECONDITION naming the
// status for any other answer, else as HttpGet.
absl::StatusOr<std::string> HttpGetBody(const std::string& url,
                                        absl::Duration timeout);

// "http://127.0.0.1:<port><path>".
std::string LoopbackUrl(int port, absl::string_view path);

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string UrlEncode(absl::string_view value);

}  // namespace loraplex::metrics_client

#endif  // LORAPLEX_TOOLS_METRICS_CLIENT_HTTP_GET_H_
