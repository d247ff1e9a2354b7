#include "tools/metrics_client/http_get.h"

#include <httplib.h>

#include <cctype>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace loraplex::metrics_client {
namespace {

struct HttpUrl {
  std::string scheme_host_port;  // "http://host:port", what httplib takes.
  std::string path_and_query;
};

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a plain http://host:port URL (", why, "): '", url, "'"));
  };
  if (!absl::ConsumePrefix(&rest, "http://")) return bad("not http://");
  const size_t slash = rest.find('/');
  const absl::string_view authority = rest.substr(0, slash);
  HttpUrl parsed;
  parsed.path_and_query =
      slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || authority.back() == ']' ||
      !absl::SimpleAtoi(authority.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return bad("no port");
  }
  if (colon == 0) return bad("no host");
  parsed.scheme_host_port = absl::StrCat("http://", authority);
  return parsed;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  httplib::Client client(parsed->scheme_host_port);
  const auto as_chrono = absl::ToChronoMicroseconds(timeout);
  client.set_connection_timeout(as_chrono);
  client.set_read_timeout(as_chrono);
  client.set_write_timeout(as_chrono);
  client.set_keep_alive(false);
  httplib::Result result = client.Get(parsed->path_and_query.c_str());
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", httplib::to_string(result.error())));
  }
  return HttpResponse{result->status, result->body};
}

absl::StatusOr<std::string> HttpGetBody(const std::string& url,
                                        absl::Duration timeout) {
  absl::StatusOr<HttpResponse> response = HttpGet(url, timeout);
  if (!response.ok()) return response.status();
  if (response->status_code != 200) {
    return absl::FailedPreconditionError(
        absl::StrCat("GET ", url, " answered HTTP ", response->status_code));
  }
  return std::move(response->body);
}

std::string LoopbackUrl(int port, absl::string_view path) {
  return absl::StrCat("http://127.0.0.1:", port, path);
}

std::string UrlEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace loraplex::metrics_client
