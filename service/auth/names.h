// Tenant and adapter names, and how requests refer to an adapter.
//
// Both kinds of name follow one rule, [a-z0-9][a-z0-9._-]{0,63}: lower-case
// ASCII letters, digits, '.', '_' and '-', starting with a letter or digit,
// 1 to 64 characters. So a name is always a safe single path component
// (never "", ".", "..", or anything with '/'), which the registry relies on
// when it lays adapters out on disk.
#ifndef LORAPLEX_SERVICE_AUTH_NAMES_H_
#define LORAPLEX_SERVICE_AUTH_NAMES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loraplex::service {

inline constexpr size_t kMaxNameLength = 64;

bool IsValidName(absl::string_view name);

// OK, or INVALID_ARGUMENT with a message that quotes the name (escaped) and
// states the rule, e.g. "invalid adapter name \"Foo\": ...".
absl::Status ValidateAdapterName(absl::string_view name);
absl::Status ValidateTenantName(absl::string_view name);

// An adapter as a request names it.
struct AdapterRef {
  std::string tenant;  // The owning tenant ("owner" in the API).
  std::string name;

  std::string ToString() const { return tenant + "/" + name; }
  bool operator==(const AdapterRef& other) const {
    return tenant == other.tenant && name == other.name;
  }
};

// "<name>" refers to `caller_tenant`'s adapter, "<owner>/<name>" to tenant
// <owner>'s. INVALID_ARGUMENT when either part breaks the name rule or
// there is more than one '/'. Says nothing about access (see access.h).
absl::StatusOr<AdapterRef> ParseAdapterRef(absl::string_view text,
                                           absl::string_view caller_tenant);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_AUTH_NAMES_H_
