#include "tests/service/http/http_api_test_util.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::http_test {
namespace {

std::unique_ptr<httplib::Client> NewClient(int port) {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
  const auto seconds = absl::ToInt64Seconds(kSafetyNet);
  client->set_connection_timeout(seconds);
  client->set_read_timeout(seconds);
  client->set_write_timeout(seconds);
  return client;
}

httplib::Headers AuthHeaders(const std::string& api_key,
                             const httplib::Headers& extra = {}) {
  httplib::Headers headers = extra;
  if (!api_key.empty()) {
    headers.emplace("Authorization", absl::StrCat("Bearer ", api_key));
  }
  return headers;
}

HttpReply ToReply(const httplib::Result& result) {
  HttpReply reply;
  if (!result) {
    reply.error = httplib::to_string(result.error());
    return reply;
  }
  reply.status = result->status;
  reply.body = result->body;
  reply.headers = result->headers;
  return reply;
}

}  // namespace

std::string DemoModelDir() {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/../../models/demo";
}

ServerOptions DemoServerOptions(const std::string& registry_dir) {
  ServerOptions options = e2e::TestServerOptions(registry_dir);
  options.engine.model_dir = DemoModelDir();
  options.seed_adapters_dir = DemoModelDir() + "/adapters";
  options.http_listen = "127.0.0.1:0";
  options.http_limits.worker_threads = 8;
  return options;
}

nlohmann::ordered_json HttpReply::Json() const {
  nlohmann::ordered_json parsed =
      nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << body;
  return parsed.is_discarded() ? nlohmann::ordered_json() : parsed;
}

HttpReply PostJson(int port, const std::string& path, const std::string& body,
                   const std::string& api_key,
                   const httplib::Headers& extra_headers) {
  return ToReply(NewClient(port)->Post(path.c_str(),
                                       AuthHeaders(api_key, extra_headers),
                                       body, "application/json"));
}

HttpReply Get(int port, const std::string& path, const std::string& api_key) {
  return ToReply(NewClient(port)->Get(path.c_str(), AuthHeaders(api_key)));
}

std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> data;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << body.substr(at);
      break;
    }
    const std::string event = body.substr(at, end - at);
    if (!absl::StartsWith(event, "data: ") ||
        event.find('\n') != std::string::npos) {
      ADD_FAILURE() << "not a one-line data event: " << event;
    } else {
      data.push_back(event.substr(6));
    }
    at = end + 2;
  }
  return data;
}

OpenStream::OpenStream(int port, const std::string& path,
                       const std::string& body)
    : client_("127.0.0.1", port) {
  client_.set_read_timeout(absl::ToInt64Seconds(kSafetyNet));
  thread_ = std::thread([this, path, body] {
    httplib::Request request;
    request.method = "POST";
    request.path = path;
    request.body = body;
    request.set_header("Content-Type", "application/json");
    request.response_handler = [this](const httplib::Response& response) {
      absl::MutexLock lock(&mu_);
      reply_.status = response.status;
      reply_.headers = response.headers;
      return true;
    };
    request.content_receiver = [this](const char* data, size_t size, uint64_t,
                                      uint64_t) {
      absl::MutexLock lock(&mu_);
      reply_.body.append(data, size);
      return !abandoned_;
    };
    const httplib::Result result = client_.send(request);
    absl::MutexLock lock(&mu_);
    if (!result) reply_.error = httplib::to_string(result.error());
    done_ = true;
  });
}

OpenStream::~OpenStream() { Abandon(); }

bool OpenStream::CountReached(int count) const {
  int events = 0;
  for (size_t at = reply_.body.find("\n\n"); at != std::string::npos;
       at = reply_.body.find("\n\n", at + 2)) {
    ++events;
  }
  return events >= count;
}

bool OpenStream::WaitForEvents(int count) {
  absl::MutexLock lock(&mu_);
  const auto reached_or_done = [this, count]()
                                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                     return done_ || CountReached(count);
                                   };
  mu_.AwaitWithTimeout(absl::Condition(&reached_or_done), kSafetyNet);
  return CountReached(count);
}

void OpenStream::Abandon() {
  {
    absl::MutexLock lock(&mu_);
    abandoned_ = true;
  }
  client_.stop();  // Closes the socket, whatever the client thread waits on.
  if (thread_.joinable()) thread_.join();
}

HttpReply OpenStream::Finish() {
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), kSafetyNet);
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return reply_;
}

}  // namespace loraplex::service::http_test
