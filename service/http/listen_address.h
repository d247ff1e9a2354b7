// "host:port" listen addresses of the HTTP servers (--metrics-listen,
// --http-listen).
#ifndef LORAPLEX_SERVICE_HTTP_LISTEN_ADDRESS_H_
#define LORAPLEX_SERVICE_HTTP_LISTEN_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"

namespace loraplex::service {

struct ListenAddress {
  std::string host;  // As getaddrinfo takes it ("0.0.0.0", "::1", a name).
  int port = 0;      // 0: a free port.
};

// "host:port", "[v6addr]:port", or "port" (every IPv4 interface).
// INVALID_ARGUMENT for anything else, or a port outside [0, 65535].
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& address);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_LISTEN_ADDRESS_H_
