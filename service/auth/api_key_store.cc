#include "service/auth/api_key_store.h"

#include <openssl/rand.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/common/status_macros.h"
#include "service/auth/names.h"

namespace loraplex::service {
namespace {

// Printable ASCII except space: what a key may contain, so that it survives
// the Bearer header and a key file line unchanged.
bool IsKeyChar(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

std::unique_ptr<ApiKeyStore> ApiKeyStore::Open() {
  return std::unique_ptr<ApiKeyStore>(
      new ApiKeyStore(/*open=*/true, /*path=*/"", {}));
}

absl::StatusOr<std::unique_ptr<ApiKeyStore>> ApiKeyStore::LoadFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(Entries entries, ReadEntries(path));
  return std::unique_ptr<ApiKeyStore>(
      new ApiKeyStore(/*open=*/false, path, std::move(entries)));
}

absl::Status ApiKeyStore::Reload() {
  if (path_.empty()) {
    return absl::FailedPreconditionError(
        open_ ? "the server runs open (no API key file): nothing to reload"
              : "these keys do not come from a file");
  }
  absl::MutexLock reload_lock(&reload_mu_);
  ASSIGN_OR_RETURN(Entries entries, ReadEntries(path_));
  auto replacement = std::make_shared<const Entries>(std::move(entries));
  absl::MutexLock lock(&mu_);
  entries_ = std::move(replacement);
  return absl::OkStatus();
}

std::shared_ptr<const ApiKeyStore::Entries> ApiKeyStore::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

size_t ApiKeyStore::num_keys() const { return entries()->size(); }

size_t ApiKeyStore::num_tenants() const {
  std::set<std::string> tenants;
  for (const Entry& entry : *entries()) tenants.insert(entry.principal.tenant);
  return tenants.size();
}

absl::StatusOr<ApiKeyStore::Entries> ApiKeyStore::ReadEntries(
    const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    return absl::ErrnoToStatus(error,
                               absl::StrCat("cannot read API key file ", path));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return absl::DataLossError(
        absl::StrCat("error reading API key file ", path));
  }
  return ParseEntries(text.str(), path);
}

absl::StatusOr<std::unique_ptr<ApiKeyStore>> ApiKeyStore::Parse(
    absl::string_view text, absl::string_view source) {
  ASSIGN_OR_RETURN(Entries entries, ParseEntries(text, source));
  return std::unique_ptr<ApiKeyStore>(
      new ApiKeyStore(/*open=*/false, /*path=*/"", std::move(entries)));
}

absl::StatusOr<ApiKeyStore::Entries> ApiKeyStore::ParseEntries(
    absl::string_view text, absl::string_view source) {
  Entries entries;
  std::vector<int> entry_lines;  // Parallel to entries, for duplicates.
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": ", what));
    };
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) {
      continue;
    }
    if (fields.size() != 3) {
      return error(
          absl::StrCat("expected 3 fields \"<tenant> <role> "
                       "<sha256-hex>\", found ",
                       fields.size()));
    }
    absl::Status tenant_status = ValidateTenantName(fields[0]);
    if (!tenant_status.ok()) {
      return error(tenant_status.message());
    }
    absl::StatusOr<Role> role = ParseRole(fields[1]);
    if (!role.ok()) {
      return error(role.status().message());
    }
    Entry entry;
    if (!ParseSha256Hex(fields[2], &entry.key_hash)) {
      return error(
          "the third field must be the key's SHA-256 as 64 hex digits (the "
          "file holds hashes, never plain keys)");
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      if (DigestsEqual(entries[i].key_hash, entry.key_hash)) {
        return error(absl::StrCat("the same key hash is already on line ",
                                  entry_lines[i]));
      }
    }
    entry.principal = Principal{std::string(fields[0]), *role};
    entries.push_back(std::move(entry));
    entry_lines.push_back(line_number);
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": no API keys (lines \"<tenant> <role> "
                     "<sha256-hex>\"); without a key file the "
                     "server runs open"));
  }
  return entries;
}

absl::StatusOr<Principal> ApiKeyStore::Lookup(absl::string_view api_key) const {
  if (open_) {
    return Principal{std::string(kDefaultTenant), Role::kTenant};
  }
  const Sha256Digest hash = Sha256Of(api_key);
  const std::shared_ptr<const Entries> keys = entries();
  // Compare with every entry, without stopping at a match, so the time taken
  // does not tell which entry (if any) matched.
  const Entry* match = nullptr;
  for (const Entry& entry : *keys) {
    if (DigestsEqual(entry.key_hash, hash)) {
      match = &entry;
    }
  }
  if (match == nullptr) {
    return absl::UnauthenticatedError("unknown API key");
  }
  return match->principal;
}

absl::StatusOr<Principal> ApiKeyStore::Authenticate(
    std::optional<absl::string_view> authorization) const {
  if (open_) {
    return Principal{std::string(kDefaultTenant), Role::kTenant};
  }
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing API key: send the metadata \"authorization: Bearer <key>\"");
  }
  ASSIGN_OR_RETURN(std::string key, ParseBearerToken(*authorization));
  return Lookup(key);
}

absl::StatusOr<std::string> ParseBearerToken(absl::string_view authorization) {
  const absl::string_view value = absl::StripAsciiWhitespace(authorization);
  const size_t space = value.find_first_of(" \t");
  const absl::string_view scheme = value.substr(0, space);
  if (!absl::EqualsIgnoreCase(scheme, "bearer")) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata: expected \"Bearer <key>\"");
  }
  const absl::string_view key =
      space == absl::string_view::npos
          ? absl::string_view()
          : absl::StripLeadingAsciiWhitespace(value.substr(space));
  if (key.empty()) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata: the Bearer key is empty");
  }
  for (char c : key) {
    if (!IsKeyChar(c)) {
      return absl::UnauthenticatedError(
          "malformed authorization metadata: the key has spaces or control "
          "characters in it");
    }
  }
  return std::string(key);
}

absl::StatusOr<std::string> GenerateApiKey() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::StrCat(
      "lpx_", absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

absl::StatusOr<std::string> FormatApiKeyFileLine(absl::string_view tenant,
                                                 Role role,
                                                 absl::string_view api_key) {
  RETURN_IF_ERROR(ValidateTenantName(tenant));
  if (api_key.empty()) {
    return absl::InvalidArgumentError("the API key is empty");
  }
  for (char c : api_key) {
    if (!IsKeyChar(c)) {
      return absl::InvalidArgumentError(
          "an API key must be printable ASCII without spaces");
    }
  }
  return absl::StrCat(tenant, " ", RoleName(role), " ", Sha256Hex(api_key));
}

}  // namespace loraplex::service
