#include "tools/loadgen/metrics_scrape.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "engine/common/status_macros.h"

namespace loraplex::loadgen {
namespace {

struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string path = "/";
};

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics URL must start with http:// (got '", url, "')"));
  }
  HttpUrl parsed;
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos)
    parsed.path = std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  if (colon != absl::string_view::npos && authority.back() != ']') {
    parsed.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  }
  absl::ConsumePrefix(&authority, "[");
  absl::ConsumeSuffix(&authority, "]");
  parsed.host = std::string(authority);
  if (parsed.host.empty() || parsed.port.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics URL has no host or port: '", url, "'"));
  }
  return parsed;
}

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("metrics request timed out");
    }
    pollfd p{fd, events, 0};
    const int ready =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll on the metrics socket");
    }
  }
}

absl::StatusOr<int> Connect(const HttpUrl& url, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot resolve ", url.host, ":", url.port, ": ", gai_strerror(rc)));
  }
  absl::Cleanup free_found = [found] { freeaddrinfo(found); };
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
        (errno == EINPROGRESS && WaitFor(fd, POLLOUT, deadline).ok())) {
      int error = 0;
      socklen_t length = sizeof(error);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error == 0) return fd;
      last_error = std::strerror(error);
    } else {
      last_error = std::strerror(errno);
    }
    close(fd);
  }
  return absl::UnavailableError(absl::StrCat("cannot connect to ", url.host,
                                             ":", url.port, ": ", last_error));
}

absl::Status SendAll(int fd, absl::string_view bytes, absl::Time deadline) {
  while (!bytes.empty()) {
    RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline));
    const ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("sending the metrics request: ", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReceiveAll(int fd, absl::Time deadline) {
  std::string response;
  char buffer[16384];
  for (;;) {
    RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline));
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    if (got == 0) return response;
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("reading the metrics answer: ", std::strerror(errno)));
    }
    response.append(buffer, static_cast<size_t>(got));
  }
}

// Splits `name{a="x",b="y"}` into the name and its labels.
absl::Status ParseSeries(absl::string_view series, MetricSample& sample) {
  const size_t brace = series.find('{');
  sample.name = std::string(series.substr(0, brace));
  if (brace == absl::string_view::npos) return absl::OkStatus();
  if (series.back() != '}') return absl::InvalidArgumentError("unclosed '{'");
  absl::string_view rest = series.substr(brace + 1, series.size() - brace - 2);
  while (!rest.empty()) {
    const size_t eq = rest.find("=\"");
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError("label without =\"value\"");
    }
    std::string key(absl::StripAsciiWhitespace(rest.substr(0, eq)));
    std::string value;
    size_t i = eq + 2;
    for (; i < rest.size() && rest[i] != '"'; ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size()) {
        ++i;
        value += rest[i] == 'n' ? '\n' : rest[i];
      } else {
        value += rest[i];
      }
    }
    if (i >= rest.size())
      return absl::InvalidArgumentError("unclosed label value");
    sample.labels[key] = value;
    rest = rest.substr(i + 1);
    absl::ConsumePrefix(&rest, ",");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<MetricSample>> ParsePrometheusText(
    absl::string_view text) {
  std::vector<MetricSample> samples;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    // The series ends at the closing brace if there are labels (label values
    // may contain spaces), else at the first space.
    const size_t close = line.find('{') != absl::string_view::npos
                             ? line.rfind('}')
                             : absl::string_view::npos;
    const size_t space =
        line.find(' ', close == absl::string_view::npos ? 0 : close);
    MetricSample sample;
    absl::Status status = space == absl::string_view::npos
                              ? absl::InvalidArgumentError("no value")
                              : ParseSeries(line.substr(0, space), sample);
    if (status.ok()) {
      std::vector<absl::string_view> fields =
          absl::StrSplit(line.substr(space + 1), ' ', absl::SkipEmpty());
      const bool number =
          !fields.empty() &&
          (absl::SimpleAtod(fields[0], &sample.value) || fields[0] == "NaN");
      if (!number) status = absl::InvalidArgumentError("value is not a number");
    }
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", line_number, ": ", status.message(),
                       ": '", line, "'"));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

double SumSamples(const std::vector<MetricSample>& samples,
                  absl::string_view name,
                  const std::map<std::string, std::string>& match) {
  double sum = 0;
  for (const MetricSample& sample : samples) {
    if (sample.name != name) continue;
    bool matches = true;
    for (const auto& [key, value] : match) {
      auto it = sample.labels.find(key);
      matches = matches && it != sample.labels.end() && it->second == value;
    }
    if (matches) sum += sample.value;
  }
  return sum;
}

absl::StatusOr<std::string> HttpGet(const std::string& url,
                                    absl::Duration timeout) {
  ASSIGN_OR_RETURN(HttpUrl parsed, ParseHttpUrl(url));
  const absl::Time deadline = absl::Now() + timeout;
  ASSIGN_OR_RETURN(int fd, Connect(parsed, deadline));
  absl::Cleanup close_fd = [fd] { close(fd); };
  RETURN_IF_ERROR(SendAll(
      fd,
      absl::StrCat("GET ", parsed.path, " HTTP/1.0\r\nHost: ", parsed.host,
                   "\r\nConnection: close\r\n\r\n"),
      deadline));
  ASSIGN_OR_RETURN(std::string response, ReceiveAll(fd, deadline));
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::UnavailableError(
        absl::StrCat("truncated HTTP answer from ", url));
  }
  const absl::string_view status_line =
      absl::string_view(response).substr(0, response.find("\r\n"));
  std::vector<absl::string_view> words =
      absl::StrSplit(status_line, ' ', absl::SkipEmpty());
  if (words.size() < 2 || words[1] != "200") {
    return absl::FailedPreconditionError(
        absl::StrCat("GET ", url, " answered '", status_line, "'"));
  }
  return response.substr(header_end + 4);
}

absl::StatusOr<CacheCounters> ScrapeCacheCounters(const std::string& url,
                                                  absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::string body, HttpGet(url, timeout));
  ASSIGN_OR_RETURN(std::vector<MetricSample> samples,
                   ParsePrometheusText(body));
  CacheCounters counters;
  counters.device_hits =
      SumSamples(samples, kCacheHitsMetric, {{"tier", "device"}});
  counters.host_hits =
      SumSamples(samples, kCacheHitsMetric, {{"tier", "host"}});
  counters.misses = SumSamples(samples, kCacheMissesMetric);
  return counters;
}

CacheCounters CounterDelta(const CacheCounters& before,
                           const CacheCounters& after) {
  CacheCounters delta;
  delta.device_hits = after.device_hits - before.device_hits;
  delta.host_hits = after.host_hits - before.host_hits;
  delta.misses = after.misses - before.misses;
  return delta;
}

}  // namespace loraplex::loadgen
