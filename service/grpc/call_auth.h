// Admission of one call: refused while the server shuts down, then
// authenticated by its `authorization` metadata through the ApiKeyStore
// (service/auth/api_key_store.h), UNAUTHENTICATED when the key is missing,
// malformed or unknown (open mode accepts every call as the default
// tenant).
#ifndef LORAPLEX_SERVICE_GRPC_CALL_AUTH_H_
#define LORAPLEX_SERVICE_GRPC_CALL_AUTH_H_

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "service/auth/api_key_store.h"
#include "service/auth/principal.h"
#include "service/grpc/servicer_deps.h"

namespace loraplex::service {

// The metadata key clients put their "Bearer <key>" in.
inline constexpr char kAuthorizationMetadataKey[] = "authorization";

// A call with several `authorization` entries is UNAUTHENTICATED: which key
// would count is ambiguous.
absl::StatusOr<Principal> AuthenticateCall(
    const ApiKeyStore& keys, const grpc::ServerContextBase& context);

// What every handler runs first: UNAVAILABLE once deps.serving_gate is
// closed, else AuthenticateCall with deps.api_keys.
absl::StatusOr<Principal> AdmitCall(const ServicerDeps& deps,
                                    const grpc::ServerContextBase& context);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_CALL_AUTH_H_
