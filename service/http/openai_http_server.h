// The OpenAI-compatible HTTP API (`--http-listen`, default 0.0.0.0:8080):
// a second door into the same engine, adapter registry, tenancy and
// metrics as the gRPC API.
//
//   GET  /v1/models, /v1/models/{model}   openai_models.h
//   POST /v1/completions                  completion_call.h
//   POST /v1/chat/completions             completion_call.h
//
// Served by a BoundedHttpServer (bounded_http_server.h): every request in
// progress, streamed or not, holds one worker thread; connections beyond the
// workers wait in a bounded queue; a request must arrive within the request
// deadline, and each answer or streamed event must be taken by the client
// within the write timeout. Errors are OpenAI's error JSON
// (openai_error.h), also for unknown paths and oversized or compressed
// request bodies.
//
// Lifecycle: Start listens at once, answering 503 until Serve is given what
// requests need (the model loads meanwhile); for a graceful shutdown,
// StopAccepting, let the engine end the generations, AwaitIdle, destroy.
#ifndef LORAPLEX_SERVICE_HTTP_OPENAI_HTTP_SERVER_H_
#define LORAPLEX_SERVICE_HTTP_OPENAI_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/http/bounded_http_server.h"
#include "service/http/openai_deps.h"

namespace loraplex::service {

inline constexpr char kDefaultHttpListen[] = "0.0.0.0:8080";

// HttpServerLimits for the API (each a --http-* flag of loraplex-server).
inline HttpServerLimits DefaultOpenAiHttpLimits() {
  HttpServerLimits limits;
  // Requests in progress at once (streamed ones hold theirs to the end):
  // enough to keep a few full batches of the engine busy.
  limits.worker_threads = 128;
  limits.max_waiting_connections = 256;
  limits.request_deadline = absl::Seconds(30);
  limits.write_timeout = absl::Seconds(30);
  limits.max_request_bytes = size_t{4} << 20;
  return limits;
}

class OpenAiHttpServer {
 public:
  // Listens on `listen_address` ("host:port", "[v6]:port" or "port"; port
  // 0 picks a free one) and answers every API request with 503 until
  // Serve. "none" or "" disables the API: returns nullptr. UNAVAILABLE when
  // the address cannot be parsed or bound.
  static absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> Start(
      const std::string& listen_address, const HttpServerLimits& limits);

  // Serves requests with `deps` from now on; everything in it must outlive
  // this object. Call once.
  void Serve(OpenAiDeps deps);

  // See BoundedHttpServer.
  void StopAccepting() { http_->StopAccepting(); }
  bool AwaitIdle(absl::Time deadline) { return http_->AwaitIdle(deadline); }

  // Ends every connection at once (handlers waiting on the engine cancel
  // their requests) and joins the threads.
  ~OpenAiHttpServer() = default;

  int port() const { return http_->port(); }

 private:
  OpenAiHttpServer() = default;

  // The deps handlers use; null until Serve.
  const OpenAiDeps* deps() const {
    return deps_.load(std::memory_order_acquire);
  }

  std::unique_ptr<OpenAiDeps> serving_deps_;  // Owns what deps_ points to.
  std::atomic<const OpenAiDeps*> deps_{nullptr};
  // Last: destroyed (its workers joined) before what they read.
  std::unique_ptr<BoundedHttpServer> http_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_OPENAI_HTTP_SERVER_H_
