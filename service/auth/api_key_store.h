// API keys: which tenant and role a presented key stands for.
//
// Key file (`--api-keys FILE`): one key per line,
//
//   <tenant> <role> <sha256-hex>
//
// fields separated by spaces or tabs; <tenant> follows the name rule
// (names.h), <role> is "tenant" or "admin", <sha256-hex> is the SHA-256 of
// the key's bytes as 64 hex digits. '#' starts a comment that runs to the end
// of the line; blank lines are ignored. A tenant may have several keys (to
// rotate them); the same key twice is an error. The file never holds a
// plain key: make a line with FormatApiKeyFileLine (the CLI's keygen
// command), or by hand:
//
//   key=$(openssl rand -hex 32)
//   echo "acme tenant $(printf %s "$key" | sha256sum | cut -d' ' -f1)"
//
// Clients send the key as gRPC metadata `authorization: Bearer <key>`.
#ifndef LORAPLEX_SERVICE_AUTH_API_KEY_STORE_H_
#define LORAPLEX_SERVICE_AUTH_API_KEY_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/auth/principal.h"
#include "service/auth/sha256.h"

namespace loraplex::service {

// Immutable once built, so every method is safe to call from any thread.
class ApiKeyStore {
 public:
  // Open mode (no key file): every call, with or without a key, acts as
  // Principal{kDefaultTenant, Role::kTenant}. The server should warn loudly.
  static std::unique_ptr<ApiKeyStore> Open();

  // Reads a key file (format above). NOT_FOUND / PERMISSION_DENIED / ... if
  // it cannot be read; INVALID_ARGUMENT naming "<path>:<line>" for a bad
  // line, and for a file without any key.
  static absl::StatusOr<std::unique_ptr<ApiKeyStore>> LoadFile(
      const std::string& path);
  // The same from text; `source` names it in error messages.
  static absl::StatusOr<std::unique_ptr<ApiKeyStore>> Parse(
      absl::string_view text, absl::string_view source);

  bool open() const { return open_; }
  size_t num_keys() const { return entries_.size(); }

  // The principal a plain key belongs to; UNAUTHENTICATED if none. Hashes
  // the key and compares it with every stored hash in constant time.
  absl::StatusOr<Principal> Lookup(absl::string_view api_key) const;

  // For one call: `authorization` is the value of its `authorization`
  // metadata, or nullopt when the call has none. Open mode ignores it;
  // otherwise a missing or malformed header or an unknown key is
  // UNAUTHENTICATED (the message says which, never echoes the key).
  absl::StatusOr<Principal> Authenticate(
      std::optional<absl::string_view> authorization) const;

 private:
  struct Entry {
    Sha256Digest key_hash;
    Principal principal;
  };

  ApiKeyStore(bool open, std::vector<Entry> entries)
      : open_(open), entries_(std::move(entries)) {}

  bool open_;
  std::vector<Entry> entries_;
};

// The key of an `authorization` value "Bearer <key>": the scheme is matched
// case-insensitively, whitespace around the value and between scheme and key
// is ignored. UNAUTHENTICATED for another scheme, no key, or a key with
// whitespace or control characters in it.
absl::StatusOr<std::string> ParseBearerToken(absl::string_view authorization);

// A new random key: "lpx_" followed by 64 hex digits (256 bits from
// OpenSSL's RAND_bytes). INTERNAL if the random generator fails.
absl::StatusOr<std::string> GenerateApiKey();

// The key file line for `api_key`, e.g. "acme tenant 5e88...". Validates
// the tenant name and that the key is non-empty printable ASCII without
// spaces (INVALID_ARGUMENT).
absl::StatusOr<std::string> FormatApiKeyFileLine(absl::string_view tenant,
                                                 Role role,
                                                 absl::string_view api_key);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_AUTH_API_KEY_STORE_H_
