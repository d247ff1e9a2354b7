#include "service/auth/principal.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace loraplex::service {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kTenant:
      return "tenant";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  if (name == "tenant") {
    return Role::kTenant;
  }
  if (name == "admin") {
    return Role::kAdmin;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role \"", absl::CHexEscape(name),
                   "\" (expected \"tenant\" or \"admin\")"));
}

}  // namespace loraplex::service
