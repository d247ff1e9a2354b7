// Who may do what with an adapter. Pure functions of the caller, the
// adapter's owner and its visibility; the servicers call them after looking
// the adapter up and before acting on it.
//
// Note [Not found, not forbidden]: an adapter the caller may not even read
// (another tenant's private one) is reported exactly as a missing one,
// NOT_FOUND with the same message, so that probing names tells a tenant
// nothing about other tenants. PERMISSION_DENIED is only for adapters the
// caller can see but not change (another tenant's public one), and for
// uploads on behalf of another tenant (the caller knows it is not them).
#ifndef LORAPLEX_SERVICE_AUTH_ACCESS_H_
#define LORAPLEX_SERVICE_AUTH_ACCESS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/auth/names.h"
#include "service/auth/principal.h"

namespace loraplex::service {

enum class Visibility {
  kPrivate,  // Its owner (and admins) only.
  kPublic,   // Every tenant may read and use it; only the owner changes it.
};

absl::string_view VisibilityName(Visibility visibility);  // "private"/"public"
// INVALID_ARGUMENT for anything but "private" or "public".
absl::StatusOr<Visibility> ParseVisibility(absl::string_view name);

// Get and list.
bool CanRead(const Principal& caller, absl::string_view owner,
             Visibility visibility);
// Generate with it, load it into the cache.
bool CanUse(const Principal& caller, absl::string_view owner,
            Visibility visibility);
// Delete it.
bool CanDelete(const Principal& caller, absl::string_view owner,
               Visibility visibility);
// Upload an adapter owned by `owner`.
bool CanUploadAs(const Principal& caller, absl::string_view owner);

enum class AdapterAction { kRead, kUse, kDelete };

// OK if `caller` may do `action` to the adapter `ref` (of `visibility`);
// otherwise NOT_FOUND (AdapterNotFoundError) or PERMISSION_DENIED, per
// Note [Not found, not forbidden].
absl::Status CheckAdapterAccess(const Principal& caller, AdapterAction action,
                                const AdapterRef& ref, Visibility visibility);

// OK, or PERMISSION_DENIED when a non-admin uploads for another tenant.
absl::Status CheckUploadOwner(const Principal& caller, absl::string_view owner);

// The one NOT_FOUND every "missing or invisible" answer uses:
// adapter "<owner>/<name>" not found.
absl::Status AdapterNotFoundError(const AdapterRef& ref);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_AUTH_ACCESS_H_
