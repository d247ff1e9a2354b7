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
//
// Keys change without a restart: Reload() re-reads the file and swaps the
// whole key set at once (loraplex-server calls it on SIGHUP and when the
// file changes). A file that does not parse leaves the current keys in
// place. Replace the file atomically (write a new file, rename it over the
// old one), so that a reload never sees half of it.
#ifndef LORAPLEX_SERVICE_AUTH_API_KEY_STORE_H_
#define LORAPLEX_SERVICE_AUTH_API_KEY_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "service/auth/principal.h"
#include "service/auth/sha256.h"

namespace loraplex::service {

// Thread-safe. A call sees one key set: the one before or the one after a
// concurrent Reload, never a mix.
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
  size_t num_keys() const ABSL_LOCKS_EXCLUDED(mu_);
  // How many distinct tenants the keys belong to (0 in open mode).
  size_t num_tenants() const ABSL_LOCKS_EXCLUDED(mu_);

  // Key-file mode: reads the file again (the path LoadFile was given) and,
  // if it parses, replaces every key at once; calls already authenticated
  // keep their principal. On any error the current keys stay and the error
  // is returned (as LoadFile's). FAILED_PRECONDITION in open mode or for a
  // store made by Parse. Serialized with other Reload calls.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(reload_mu_, mu_);

  // The principal a plain key belongs to; UNAUTHENTICATED if none. Hashes
  // the key and compares it with every stored hash in constant time.
  absl::StatusOr<Principal> Lookup(absl::string_view api_key) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // For one call: `authorization` is the value of its `authorization`
  // metadata, or nullopt when the call has none. Open mode ignores it;
  // otherwise a missing or malformed header or an unknown key is
  // UNAUTHENTICATED (the message says which, never echoes the key).
  absl::StatusOr<Principal> Authenticate(
      std::optional<absl::string_view> authorization) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    Sha256Digest key_hash;
    Principal principal;
  };
  using Entries = std::vector<Entry>;

  ApiKeyStore(bool open, std::string path, Entries entries)
      : open_(open),
        path_(std::move(path)),
        entries_(std::make_shared<const Entries>(std::move(entries))) {}

  static absl::StatusOr<Entries> ParseEntries(absl::string_view text,
                                              absl::string_view source);
  static absl::StatusOr<Entries> ReadEntries(const std::string& path);
  // The current key set (shared, so a Reload never pulls it from under a
  // lookup that is using it).
  std::shared_ptr<const Entries> entries() const ABSL_LOCKS_EXCLUDED(mu_);

  const bool open_;
  const std::string path_;  // The key file; empty for Open() and Parse().
  absl::Mutex reload_mu_;   // Held by Reload while it reads the file.
  mutable absl::Mutex mu_;
  std::shared_ptr<const Entries> entries_ ABSL_GUARDED_BY(mu_);
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
