// Helpers for the HTTP API tests: an in-process server on the demo model
// (it has a tokenizer and a chat template), requests through cpp-httplib's
// client (the one HTTP client of the tree), Server-Sent Events parsing, and
// a streamed request the test reads event by event and may abandon.
#ifndef LORAPLEX_TESTS_SERVICE_HTTP_HTTP_API_TEST_UTIL_H_
#define LORAPLEX_TESTS_SERVICE_HTTP_HTTP_API_TEST_UTIL_H_

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "service/server/server_options.h"

namespace loraplex::service::http_test {

// The safety net of every wait (never the expected path).
inline constexpr absl::Duration kSafetyNet = absl::Seconds(60);

// <repo>/models/demo.
std::string DemoModelDir();

// e2e::TestServerOptions on the demo model, its three adapters seeded as
// demo/{scripture,fortunes,code} (public), the HTTP API on a free loopback
// port with a few threads.
ServerOptions DemoServerOptions(const std::string& registry_dir);

struct HttpReply {
  int status = 0;     // 0: no answer (see error).
  std::string error;  // The client's error when there was no answer.
  std::string body;
  httplib::Headers headers;
  // The body as JSON (null, with a test failure, when it is not JSON).
  nlohmann::ordered_json Json() const;
};

// POST `body` (JSON) to 127.0.0.1:`port``path`, with `Authorization:
// Bearer <api_key>` unless the key is empty, and any `extra_headers`.
HttpReply PostJson(int port, const std::string& path, const std::string& body,
                   const std::string& api_key = "",
                   const httplib::Headers& extra_headers = {});
HttpReply Get(int port, const std::string& path,
              const std::string& api_key = "");

// The `data:` payloads of an event-stream body, in order. Fails the test
// for anything that is not a sequence of "data: <payload>\n\n" events.
std::vector<std::string> SseData(const std::string& body);

// A streamed POST the test reads as it arrives, on a client thread of its
// own.
class OpenStream {
 public:
  OpenStream(int port, const std::string& path, const std::string& body);
  // Abandons the request if it still runs.
  ~OpenStream();

  // Blocks until `count` complete events ("\n\n") arrived: true; false if
  // the stream ended before, or at the safety net.
  bool WaitForEvents(int count) ABSL_LOCKS_EXCLUDED(mu_);
  // The client leaves: its connection is closed at once. Joins the thread.
  void Abandon() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until the answer is complete; its HTTP status and body.
  HttpReply Finish() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  bool CountReached(int count) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  httplib::Client client_;
  mutable absl::Mutex mu_;
  HttpReply reply_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Started by the constructor, once the rest exists.
};

}  // namespace loraplex::service::http_test

#endif  // LORAPLEX_TESTS_SERVICE_HTTP_HTTP_API_TEST_UTIL_H_
