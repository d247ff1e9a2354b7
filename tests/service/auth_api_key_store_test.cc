#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "service/auth/sha256.h"
#include "tests/support/temp_dir.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAcmeKey[] = "lpx_acme_secret";
constexpr char kAcmeRotatedKey[] = "lpx_acme_rotated";
constexpr char kOpsKey[] = "lpx_ops_secret";

std::string KeyFile() {
  return absl::StrCat(
      "# Loraplex API keys\n"
      "\n",
      "acme tenant ", Sha256Hex(kAcmeKey), "\n", "  acme\ttenant\t",
      absl::AsciiStrToUpper(Sha256Hex(kAcmeRotatedKey)),
      "   # rotated 2026-11\r\n", "ops admin ", Sha256Hex(kOpsKey), "\n");
}

std::unique_ptr<ApiKeyStore> ParseOrDie(const std::string& text) {
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::Parse(text, "keys.txt");
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

void ExpectParseError(const std::string& text, const std::string& message) {
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::Parse(text, "keys.txt");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_THAT(store.status().message(), HasSubstr(message)) << text;
}

TEST(BearerTokenTest, AcceptsTheBearerSchemeInAnyCase) {
  for (const char* header :
       {"Bearer abc", "bearer abc", "BEARER abc", "  Bearer   abc  ",
        "Bearer\tabc", "bEaReR abc\t"}) {
    absl::StatusOr<std::string> key = ParseBearerToken(header);
    ASSERT_TRUE(key.ok()) << header << ": " << key.status();
    EXPECT_EQ(*key, "abc") << header;
  }
}

TEST(BearerTokenTest, RejectsMalformedValues) {
  struct Case {
    std::string header;
    const char* message;
  };
  const Case kCases[] = {
      {"", "expected \"Bearer <key>\""},
      {"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "expected \"Bearer <key>\""},
      {"Bearerabc", "expected \"Bearer <key>\""},
      {"abc", "expected \"Bearer <key>\""},
      {"Bearer", "the Bearer key is empty"},
      {"Bearer    ", "the Bearer key is empty"},
      {"Bearer a b", "spaces or control characters"},
      {"Bearer a\x01", "spaces or control characters"},
      {"Bearer caf\xc3\xa9", "spaces or control characters"},
  };
  for (const Case& c : kCases) {
    absl::StatusOr<std::string> key = ParseBearerToken(c.header);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kUnauthenticated)
        << c.header;
    EXPECT_THAT(key.status().message(), HasSubstr(c.message)) << c.header;
  }
}

TEST(ApiKeyStoreTest, LooksUpKeysByTheirHash) {
  std::unique_ptr<ApiKeyStore> store = ParseOrDie(KeyFile());
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->open());
  EXPECT_EQ(store->num_keys(), 3u);
  EXPECT_EQ(*store->Lookup(kAcmeKey), (Principal{"acme", Role::kTenant}));
  EXPECT_EQ(*store->Lookup(kAcmeRotatedKey),
            (Principal{"acme", Role::kTenant}));
  EXPECT_EQ(*store->Lookup(kOpsKey), (Principal{"ops", Role::kAdmin}));
  EXPECT_TRUE(store->Lookup(kOpsKey)->is_admin());
}

TEST(ApiKeyStoreTest, UnknownKeysAreUnauthenticated) {
  std::unique_ptr<ApiKeyStore> store = ParseOrDie(KeyFile());
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> kWrongKeys = {
      "", "lpx_acme_secreT", "lpx_acme_secret ", Sha256Hex(kAcmeKey)};
  for (const std::string& key : kWrongKeys) {
    absl::StatusOr<Principal> principal = store->Lookup(key);
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(principal.status().message(), HasSubstr("unknown API key"));
  }
}

TEST(ApiKeyStoreTest, AuthenticatesTheAuthorizationMetadata) {
  std::unique_ptr<ApiKeyStore> store = ParseOrDie(KeyFile());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<Principal> ops =
      store->Authenticate(absl::StrCat("Bearer ", kOpsKey));
  ASSERT_TRUE(ops.ok()) << ops.status();
  EXPECT_EQ(*ops, (Principal{"ops", Role::kAdmin}));

  absl::StatusOr<Principal> missing = store->Authenticate(std::nullopt);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing API key"));

  absl::StatusOr<Principal> malformed = store->Authenticate("Token abc");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kUnauthenticated);

  absl::StatusOr<Principal> unknown =
      store->Authenticate("Bearer guessed-secret-123");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  // The presented key never shows up in the answer.
  EXPECT_THAT(unknown.status().message(), Not(HasSubstr("guessed-secret")));
}

TEST(ApiKeyStoreTest, OpenModeActsAsTheDefaultTenant) {
  std::unique_ptr<ApiKeyStore> store = ApiKeyStore::Open();
  EXPECT_TRUE(store->open());
  EXPECT_EQ(store->num_keys(), 0u);
  const Principal expected{"default", Role::kTenant};
  EXPECT_EQ(*store->Authenticate(std::nullopt), expected);
  EXPECT_EQ(*store->Authenticate("garbage"), expected);
  EXPECT_EQ(*store->Lookup("anything"), expected);
}

TEST(ApiKeyStoreTest, ParseErrorsNameTheLine) {
  const std::string hash = Sha256Hex("k");
  ExpectParseError(absl::StrCat("# c\n\nacme tenant\n"),
                   "keys.txt:3: expected 3 fields");
  ExpectParseError(absl::StrCat("acme tenant ", hash, " extra\n"),
                   "keys.txt:1: expected 3 fields");
  ExpectParseError(absl::StrCat("acme owner ", hash, "\n"),
                   "keys.txt:1: unknown role \"owner\"");
  ExpectParseError(absl::StrCat("\nAcme tenant ", hash, "\n"),
                   "keys.txt:2: invalid tenant name \"Acme\"");
  ExpectParseError("acme tenant plain-key-not-a-hash\n",
                   "keys.txt:1: the third field must be the key's SHA-256");
  ExpectParseError(absl::StrCat("acme tenant ", hash, "\n", "ops admin ",
                                absl::AsciiStrToUpper(hash), "\n"),
                   "keys.txt:2: the same key hash is already on line 1");
}

TEST(ApiKeyStoreTest, AFileWithoutKeysIsAnError) {
  ExpectParseError("", "keys.txt: no API keys");
  ExpectParseError("# only a comment\n\n   \n", "keys.txt: no API keys");
}

TEST(ApiKeyStoreTest, LoadsAKeyFile) {
  const std::string path = ::testing::TempDir() + "/auth_keys_test.txt";
  {
    std::ofstream file(path);
    file << KeyFile();
  }
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::LoadFile(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->Lookup(kAcmeKey), (Principal{"acme", Role::kTenant}));
  std::remove(path.c_str());
}

TEST(ApiKeyStoreTest, MissingKeyFileIsNotFound) {
  const std::string path = ::testing::TempDir() + "/no_such_keys_file.txt";
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::LoadFile(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
}

// Writes `text` to `path` the way the docs ask: a new file renamed over it.
void ReplaceFile(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".new";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << text;
  }
  ASSERT_EQ(std::rename(temporary.c_str(), path.c_str()), 0);
}

TEST(ApiKeyStoreReloadTest, ARemovedKeyStopsWorkingAndANewOneStarts) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  ReplaceFile(path, KeyFile());
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::LoadFile(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->num_tenants(), 2u);

  // acme's first key is revoked, globex is added.
  ReplaceFile(path,
              absl::StrCat("acme tenant ", Sha256Hex(kAcmeRotatedKey),
                           "\nglobex tenant ", Sha256Hex("lpx_globex"), "\n"));
  ASSERT_TRUE((*store)->Reload().ok());
  EXPECT_EQ((*store)->Lookup(kAcmeKey).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Lookup(kOpsKey).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(*(*store)->Lookup(kAcmeRotatedKey),
            (Principal{"acme", Role::kTenant}));
  EXPECT_EQ(*(*store)->Lookup("lpx_globex"),
            (Principal{"globex", Role::kTenant}));
  EXPECT_EQ((*store)->num_keys(), 2u);
}

TEST(ApiKeyStoreReloadTest, ABadOrMissingFileKeepsTheKeysInForce) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  ReplaceFile(path, KeyFile());
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::LoadFile(path);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* bad : {"acme tenant not-a-hash\n", "", "# no keys\n"}) {
    ReplaceFile(path, bad);
    const absl::Status reloaded = (*store)->Reload();
    EXPECT_EQ(reloaded.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(*(*store)->Lookup(kAcmeKey), (Principal{"acme", Role::kTenant}));
    EXPECT_EQ((*store)->num_keys(), 3u);
  }
  ASSERT_EQ(std::remove(path.c_str()), 0);
  EXPECT_EQ((*store)->Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*(*store)->Lookup(kOpsKey), (Principal{"ops", Role::kAdmin}));
}

TEST(ApiKeyStoreReloadTest, OnlyAStoreReadFromAFileReloads) {
  EXPECT_EQ(ApiKeyStore::Open()->Reload().code(),
            absl::StatusCode::kFailedPrecondition);
  std::unique_ptr<ApiKeyStore> parsed = ParseOrDie(KeyFile());
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(parsed->Reload().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(parsed->num_keys(), 3u);
}

// Lookups on other threads see the old key set or the new one, never a
// mix or a dangling one (run under ThreadSanitizer in CI).
TEST(ApiKeyStoreReloadTest, LookupsRaceReloadsSafely) {
  loraplex::testing::TempDir dir;
  const std::string path = dir.Join("keys");
  const std::string with_ops = KeyFile();
  const std::string without_ops =
      absl::StrCat("acme tenant ", Sha256Hex(kAcmeKey), "\n");
  ReplaceFile(path, with_ops);
  absl::StatusOr<std::unique_ptr<ApiKeyStore>> store =
      ApiKeyStore::LoadFile(path);
  ASSERT_TRUE(store.ok()) << store.status();
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!done) {
        EXPECT_EQ(*(*store)->Lookup(kAcmeKey),
                  (Principal{"acme", Role::kTenant}));
        const absl::StatusOr<Principal> ops = (*store)->Lookup(kOpsKey);
        if (ops.ok()) {
          EXPECT_EQ(*ops, (Principal{"ops", Role::kAdmin}));
        }
      }
    });
  }
  for (int round = 0; round < 50; ++round) {
    ReplaceFile(path, round % 2 == 0 ? without_ops : with_ops);
    ASSERT_TRUE((*store)->Reload().ok());
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
}

TEST(ApiKeyToolsTest, GeneratedKeysAreRandomAndWellFormed) {
  absl::StatusOr<std::string> first = GenerateApiKey();
  absl::StatusOr<std::string> second = GenerateApiKey();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_EQ(first->size(), 4u + 64u);
  EXPECT_EQ(first->substr(0, 4), "lpx_");
  EXPECT_TRUE(ParseBearerToken(absl::StrCat("Bearer ", *first)).ok());
}

TEST(ApiKeyToolsTest, FormattedLinesParseBackToThePrincipal) {
  absl::StatusOr<std::string> key = GenerateApiKey();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> line =
      FormatApiKeyFileLine("globex", Role::kAdmin, *key);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, absl::StrCat("globex admin ", Sha256Hex(*key)));
  EXPECT_THAT(*line, Not(HasSubstr(*key)));
  std::unique_ptr<ApiKeyStore> store = ParseOrDie(*line + "\n");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Authenticate(absl::StrCat("Bearer ", *key)),
            (Principal{"globex", Role::kAdmin}));
}

TEST(ApiKeyToolsTest, FormattingRejectsBadInput) {
  EXPECT_EQ(FormatApiKeyFileLine("Globex", Role::kTenant, "k").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> empty =
      FormatApiKeyFileLine("globex", Role::kTenant, "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));
  absl::StatusOr<std::string> spaced =
      FormatApiKeyFileLine("globex", Role::kTenant, "two words");
  EXPECT_EQ(spaced.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spaced.status().message(), HasSubstr("without spaces"));
}

}  // namespace
}  // namespace loraplex::service
