// How the client tools reach a loraplex-server: the address, the API key and
// the per-call deadline, turned into a gRPC channel and per-call contexts.
// Also the one place where the tools turn a grpc::Status into an
// absl::Status (the codes are the same numbers in both).
#ifndef LORAPLEX_TOOLS_CLIENT_CONNECTION_H_
#define LORAPLEX_TOOLS_CLIENT_CONNECTION_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace loraplex::tools {

inline constexpr char kDefaultServer[] = "localhost:50051";

struct ConnectionOptions {
  std::string server = kDefaultServer;  // HOST:PORT of the gRPC listener.
  // Sent as `authorization: Bearer <key>`; empty sends no metadata (a
  // server without --api-keys ignores it anyway).
  std::string api_key;
  // Deadline of each call, counted from when its context is prepared.
  // InfiniteDuration() = no deadline.
  absl::Duration timeout = absl::InfiniteDuration();
};

// A plaintext channel to `options.server` (the server speaks no TLS; put a
// TLS-terminating proxy in front of it). Connects lazily, so this never
// fails: an unreachable server shows up as UNAVAILABLE on the first call.
std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options);

// The request header Envoy's ring hash routes on (deploy/README.md,
// "Adapter-affinity routing"): calls about one adapter reach the same replica.
inline constexpr char kAdapterRoutingHeader[] = "x-loraplex-adapter";

// Sets the deadline and the authorization metadata on a fresh context, and
// the routing header when the call is about an adapter (`adapter` non-empty).
// Call once per context, before starting the call.
void PrepareContext(const ConnectionOptions& options,
                    grpc::ClientContext* context,
                    const std::string& adapter = "");

// The same code and message as an absl::Status.
absl::Status FromGrpcStatus(const grpc::Status& status);

// "NOT_FOUND: no adapter named x" -> "error: NOT_FOUND: no adapter named x",
// on one line (newlines in the message become spaces): what the tools print
// on stderr before exiting non-zero.
std::string FormatErrorLine(const absl::Status& status);

}  // namespace loraplex::tools

#endif  // LORAPLEX_TOOLS_CLIENT_CONNECTION_H_
