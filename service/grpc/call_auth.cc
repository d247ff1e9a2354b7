#include "service/grpc/call_auth.h"

#include <optional>

#include "absl/strings/string_view.h"

namespace loraplex::service {

absl::StatusOr<Principal> AuthenticateCall(
    const ApiKeyStore& keys, const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto [begin, end] = metadata.equal_range(kAuthorizationMetadataKey);
  std::optional<absl::string_view> authorization;
  for (auto it = begin; it != end; ++it) {
    if (authorization.has_value() && !keys.open()) {
      return absl::UnauthenticatedError(
          "the call carries more than one authorization header");
    }
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return keys.Authenticate(authorization);
}

absl::StatusOr<Principal> AdmitCall(const ServicerDeps& deps,
                                    const grpc::ServerContextBase& context) {
  if (deps.serving_gate != nullptr) {
    if (absl::Status admitted = deps.serving_gate->Admit(); !admitted.ok()) {
      return admitted;
    }
  }
  return AuthenticateCall(*deps.api_keys, context);
}

}  // namespace loraplex::service
