#include "service/auth/access.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace loraplex::service {

absl::string_view VisibilityName(Visibility visibility) {
  switch (visibility) {
    case Visibility::kPrivate:
      return "private";
    case Visibility::kPublic:
      return "public";
  }
  return "unknown";
}

absl::StatusOr<Visibility> ParseVisibility(absl::string_view name) {
  if (name == "private") {
    return Visibility::kPrivate;
  }
  if (name == "public") {
    return Visibility::kPublic;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown visibility \"", absl::CHexEscape(name),
                   "\" (expected \"private\" or \"public\")"));
}

bool CanRead(const Principal& caller, absl::string_view owner,
             Visibility visibility) {
  return caller.is_admin() || caller.tenant == owner ||
         visibility == Visibility::kPublic;
}

bool CanUse(const Principal& caller, absl::string_view owner,
            Visibility visibility) {
  return CanRead(caller, owner, visibility);
}

bool CanDelete(const Principal& caller, absl::string_view owner,
               Visibility /*visibility*/) {
  return caller.is_admin() || caller.tenant == owner;
}

bool CanUploadAs(const Principal& caller, absl::string_view owner) {
  return caller.is_admin() || caller.tenant == owner;
}

absl::Status CheckAdapterAccess(const Principal& caller, AdapterAction action,
                                const AdapterRef& ref, Visibility visibility) {
  if (!CanRead(caller, ref.tenant, visibility)) {
    return AdapterNotFoundError(ref);
  }
  switch (action) {
    case AdapterAction::kRead:
      return absl::OkStatus();
    case AdapterAction::kUse:
      if (CanUse(caller, ref.tenant, visibility)) {
        return absl::OkStatus();
      }
      break;
    case AdapterAction::kDelete:
      if (CanDelete(caller, ref.tenant, visibility)) {
        return absl::OkStatus();
      }
      break;
  }
  return absl::PermissionDeniedError(
      absl::StrCat("adapter \"", ref.ToString(), "\" belongs to tenant \"",
                   ref.tenant, "\"; only its owner or an admin may change it"));
}

absl::Status CheckUploadOwner(const Principal& caller,
                              absl::string_view owner) {
  if (CanUploadAs(caller, owner)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("tenant \"", caller.tenant,
                   "\" may not upload adapters owned by tenant \"", owner,
                   "\" (only an admin may)"));
}

absl::Status AdapterNotFoundError(const AdapterRef& ref) {
  return absl::NotFoundError(
      absl::StrCat("adapter \"", ref.ToString(), "\" not found"));
}

}  // namespace loraplex::service
