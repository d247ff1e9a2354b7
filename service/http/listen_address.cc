#include "service/http/listen_address.h"

#include "absl/strings/numbers.h"

namespace loraplex::service {

absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& address) {
  ListenAddress out;
  std::string port_text;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) {
      return absl::InvalidArgumentError("expected [v6addr]:port");
    }
    out.host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      out.host = "0.0.0.0";
      port_text = address;
    } else {
      out.host = address.substr(0, colon);
      port_text = address.substr(colon + 1);
    }
  }
  if (out.host.empty() || !absl::SimpleAtoi(port_text, &out.port) ||
      out.port < 0 || out.port > 65535) {
    return absl::InvalidArgumentError("expected host:port, [v6]:port or port");
  }
  return out;
}

}  // namespace loraplex::service
