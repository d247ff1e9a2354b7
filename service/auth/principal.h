// Who is calling: the tenant and role an API key maps to. Plain values,
// shared by auth, the registry and the servicers.
#ifndef LORAPLEX_SERVICE_AUTH_PRINCIPAL_H_
#define LORAPLEX_SERVICE_AUTH_PRINCIPAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loraplex::service {

enum class Role {
  kTenant,  // Manages its own adapters; reads and uses public ones.
  kAdmin,   // Manages every tenant's adapters.
};

// "tenant" / "admin", the spelling used in API key files.
absl::string_view RoleName(Role role);
// INVALID_ARGUMENT for anything but "tenant" or "admin".
absl::StatusOr<Role> ParseRole(absl::string_view name);

// The tenant every call acts as when the server runs without API keys.
inline constexpr char kDefaultTenant[] = "default";

struct Principal {
  std::string tenant;  // A valid tenant name (see names.h).
  Role role = Role::kTenant;

  bool is_admin() const { return role == Role::kAdmin; }
  bool operator==(const Principal& other) const {
    return tenant == other.tenant && role == other.role;
  }
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_AUTH_PRINCIPAL_H_
