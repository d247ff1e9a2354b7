// The connection a BoundedHttpServer handler is answering, for handlers
// that wait for something (an engine request) before or while they answer,
// and for streamed answers. See Note [Waiting handlers] in
// bounded_http_server.h.
#ifndef LORAPLEX_SERVICE_HTTP_HTTP_CONNECTION_H_
#define LORAPLEX_SERVICE_HTTP_HTTP_CONNECTION_H_

namespace loraplex::service {

class HttpConnection {
 public:
  enum class Wake {
    kEvent,           // `event_fd` is readable.
    kClientGone,      // The client closed or reset the connection.
    kServerStopping,  // The server is being destroyed.
  };

  // Blocks until `event_fd` (an eventfd or pipe the caller owns; it is not
  // read here) is readable, the client has gone, or the server stops;
  // whichever is first. No deadline: the caller bounds what it waits for.
  // A client that half-closes its side (shutdown(SHUT_WR)) counts as gone.
  virtual Wake WaitForEvent(int event_fd) = 0;

  // Starts a new write window: the bytes written from now on must be taken
  // by the client within the server's write timeout (HttpServerLimits), or
  // the connection ends. A streamed answer calls it before each part, so
  // that each part, not the whole stream, is bounded.
  virtual void RestartWriteDeadline() = 0;

  // The connection the calling thread is serving: non-null only on a
  // server worker thread, inside a handler or a content provider.
  static HttpConnection* Current();

 protected:
  ~HttpConnection() = default;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_HTTP_CONNECTION_H_
