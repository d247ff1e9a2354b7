#include "service/auth/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace loraplex::service {
namespace {

bool IsNameStart(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
         (c >= 'a' && c <= 'z');
}

bool IsNameChar(char c) {
  return IsNameStart(c) || c == '.' || c == '_' || c == '-';
}

absl::Status ValidateName(absl::string_view kind, absl::string_view name) {
  if (IsValidName(name)) {
    return absl::OkStatus();
  }
  // Cap what is echoed back: the name comes from the client.
  absl::string_view shown = name.substr(0, 2 * kMaxNameLength);
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid ", kind, " name \"", absl::CHexEscape(shown),
      name.size() > shown.size() ? "..." : "",
      "\": names are 1 to 64 characters of [a-z0-9._-] starting with a "
      "lower-case letter or digit"));
}

}  // namespace

bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  if (!IsNameStart(name.front())) {
    return false;
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return false;
    }
  }
  return true;
}

absl::Status ValidateAdapterName(absl::string_view name) {
  return ValidateName("adapter", name);
}

absl::Status ValidateTenantName(absl::string_view name) {
  return ValidateName("tenant", name);
}

absl::StatusOr<AdapterRef> ParseAdapterRef(absl::string_view text,
                                           absl::string_view caller_tenant) {
  AdapterRef ref;
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    ref.tenant = std::string(caller_tenant);
    ref.name = std::string(text);
  } else {
    ref.tenant = std::string(text.substr(0, slash));
    ref.name = std::string(text.substr(slash + 1));
    // A second '/' lands in the name part and fails the name rule below.
  }
  RETURN_IF_ERROR(ValidateTenantName(ref.tenant));
  RETURN_IF_ERROR(ValidateAdapterName(ref.name));
  return ref;
}

}  // namespace loraplex::service
