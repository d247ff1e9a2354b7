// The process's file descriptor budget.
//
// Note [File descriptor budget]: the server must never reach its descriptor
// limit (RLIMIT_NOFILE) because of what clients do: at the limit every
// open() fails (adapter loads, uploads, registry clean-up) and gRPC 1.51
// stops accepting connections for good (Note [Accepting connections] in
// connection_acceptor.h). The rule:
//   - at start the soft limit is raised to the hard limit (both logged);
//   - client connections, the one thing clients can multiply at will, may
//     bring the process to at most (soft limit - reserve) descriptors; the
//     ConnectionAcceptor refuses connections beyond that;
//   - everything else is bounded by design and fits in the reserve: an
//     upload holds no descriptor between chunks and at most one while
//     writing one (chunk writes run on gRPC's few threads); commits,
//     validation, registry clean-up and engine adapter loads open one or two
//     files at a time on a fixed number of threads; the metrics endpoint
//     bounds its own connections.
#ifndef LORAPLEX_SERVICE_GRPC_FD_LIMITS_H_
#define LORAPLEX_SERVICE_GRPC_FD_LIMITS_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace loraplex::service {

struct FdLimits {
  uint64_t soft = 0;  // RLIM_INFINITY is reported as UINT64_MAX.
  uint64_t hard = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard limit and logs both; returns
// the limits in force afterwards (unchanged, with a warning, when raising
// fails). INTERNAL when they cannot be read.
absl::StatusOr<FdLimits> RaiseFileDescriptorLimit();

// Descriptors this process has open now (entries of /proc/self/fd).
// UNAVAILABLE where /proc is not mounted.
absl::StatusOr<int64_t> CountOpenFileDescriptors();

// Descriptors kept free for everything but client connections under the
// soft limit `soft_limit`: an eighth of it, at least 64 and at most 1024.
int64_t FdReserve(uint64_t soft_limit);
// The most descriptors client connections may bring the process to:
// `soft_limit` - FdReserve(soft_limit) (0 = no limit, for an infinite soft
// limit).
int64_t ConnectionFdCeiling(uint64_t soft_limit);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_FD_LIMITS_H_
