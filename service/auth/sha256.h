// SHA-256 (OpenSSL EVP) for API keys and uploaded adapter files.
#ifndef LORAPLEX_SERVICE_AUTH_SHA256_H_
#define LORAPLEX_SERVICE_AUTH_SHA256_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace loraplex::service {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hashing. Not thread-safe; movable (a moved-from hasher may
// only be destroyed or assigned to), not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(absl::string_view bytes);
  // The digest of everything passed to Update; the hasher then starts over.
  Sha256Digest Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

Sha256Digest Sha256Of(absl::string_view bytes);
// 64 lower-case hex digits.
std::string DigestToHex(const Sha256Digest& digest);
std::string Sha256Hex(absl::string_view bytes);

// Whether `hex` is 64 hex digits (either case).
bool IsSha256Hex(absl::string_view hex);
// The digest `hex` spells, or false if it is not IsSha256Hex.
bool ParseSha256Hex(absl::string_view hex, Sha256Digest* digest);

// Compares in time independent of where the digests differ.
bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_AUTH_SHA256_H_
