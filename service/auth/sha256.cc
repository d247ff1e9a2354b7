#include "service/auth/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace loraplex::service {

// EVP_MD_CTX is opaque in OpenSSL 3; own it through this wrapper so the
// header needs no OpenSSL include.
struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }

  void Reset() {
    // Only fails on allocation failure, after which nothing can go on.
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
      std::abort();
    }
  }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) { context_->Reset(); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(absl::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  if (EVP_DigestUpdate(context_->ctx, bytes.data(), bytes.size()) != 1) {
    std::abort();
  }
}

Sha256Digest Sha256::Finish() {
  Sha256Digest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->ctx, digest.data(), &length) != 1 ||
      length != digest.size()) {
    std::abort();
  }
  context_->Reset();
  return digest;
}

Sha256Digest Sha256Of(absl::string_view bytes) {
  Sha256 hasher;
  hasher.Update(bytes);
  return hasher.Finish();
}

std::string DigestToHex(const Sha256Digest& digest) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string Sha256Hex(absl::string_view bytes) {
  return DigestToHex(Sha256Of(bytes));
}

bool IsSha256Hex(absl::string_view hex) {
  if (hex.size() != 2 * Sha256Digest().size()) {
    return false;
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool ParseSha256Hex(absl::string_view hex, Sha256Digest* digest) {
  if (!IsSha256Hex(hex)) {
    return false;
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), digest->begin());
  return true;
}

bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace loraplex::service
