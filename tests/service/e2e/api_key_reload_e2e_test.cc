// Issue 14, item 10: a key removed from --api-keys kept working until a
// restart. Revocation without a restart: the key file is replaced and
// reloaded (ServerApp::ReloadApiKeys is what SIGHUP and the file watcher
// run; server_main_test covers both in the real binary).
#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "tests/service/e2e/e2e_test_util.h"
#include "tests/support/temp_dir.h"

namespace loraplex::service::e2e {
namespace {

constexpr char kOldKey[] = "lpx_acme_old";
constexpr char kNewKey[] = "lpx_acme_new";
constexpr char kGlobexKey[] = "lpx_globex";

std::string KeyLine(const std::string& tenant, const std::string& key) {
  return *FormatApiKeyFileLine(tenant, Role::kTenant, key) + "\n";
}

// A new file renamed over the old one, as the docs ask.
void ReplaceFile(const std::string& path, const std::string& text) {
  {
    std::ofstream file(path + ".new", std::ios::trunc);
    file << text;
  }
  ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0);
}

grpc::StatusCode GenerateAs(TestServer& server, const std::string& key) {
  return Generate(server.generation(), GreedyRequest("", {369}, 2), key)
      .error_code();
}

TEST(ApiKeyReloadTest, ARevokedKeyIsRefusedAndANewKeyServedWithoutARestart) {
  loraplex::testing::TempDir dir;
  const std::string keys = dir.Join("api-keys");
  ReplaceFile(keys, KeyLine("acme", kOldKey) + KeyLine("globex", kGlobexKey));
  ServerOptions options = TestServerOptions(dir.Join("registry"));
  options.api_keys_file = keys;
  options.api_keys_check_interval = absl::ZeroDuration();  // SIGHUP only.
  std::unique_ptr<TestServer> server = TestServer::Start(options);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(GenerateAs(*server, kOldKey), grpc::StatusCode::OK);
  ASSERT_EQ(GenerateAs(*server, kNewKey), grpc::StatusCode::UNAUTHENTICATED);

  // acme rotates its key: the old one is removed from the file.
  ReplaceFile(keys, KeyLine("acme", kNewKey) + KeyLine("globex", kGlobexKey));
  ASSERT_TRUE(server->app().ReloadApiKeys().ok());
  EXPECT_EQ(GenerateAs(*server, kOldKey), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GenerateAs(*server, kNewKey), grpc::StatusCode::OK);
  EXPECT_EQ(GenerateAs(*server, kGlobexKey), grpc::StatusCode::OK);

  // A broken file is refused; the keys in force stay.
  ReplaceFile(keys, "acme tenant this-is-not-a-hash\n");
  EXPECT_EQ(server->app().ReloadApiKeys().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateAs(*server, kNewKey), grpc::StatusCode::OK);
  EXPECT_EQ(GenerateAs(*server, kOldKey), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(ApiKeyReloadTest, OpenModeHasNothingToReload) {
  loraplex::testing::TempDir dir;
  std::unique_ptr<TestServer> server =
      TestServer::Start(TestServerOptions(dir.path()));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->app().ReloadApiKeys().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GenerateAs(*server, ""), grpc::StatusCode::OK);
}

}  // namespace
}  // namespace loraplex::service::e2e
