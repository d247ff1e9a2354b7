// Tenancy end to end, with an --api-keys file: authentication, isolation
// between tenants (list/get/use/delete/load/upload), public adapters
// (read/use only), the admin role, and the adapter name rule.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAcmeKey[] = "acme-secret-key-1";
constexpr char kGlobexKey[] = "globex-secret-key-2";
constexpr char kAdminKey[] = "root-secret-key-3";

class TenancyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string keys = "# test keys\n";
    absl::StrAppend(&keys, *FormatApiKeyFileLine("acme", Role::kTenant, kAcmeKey),
                    "\n",
                    *FormatApiKeyFileLine("globex", Role::kTenant, kGlobexKey),
                    "\n",
                    *FormatApiKeyFileLine("root", Role::kAdmin, kAdminKey), "\n");
    loraplex::testing::WriteFile(dir_.Join("keys"), keys);
    ServerOptions options = TestServerOptions(dir_.Join("registry"));
    options.api_keys_file = dir_.Join("keys");
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
  }

  grpc::Status UploadAs(const std::string& key, const std::string& name,
                        v1::Visibility visibility, const std::string& owner = "") {
    UploadOptions options;
    options.api_key = key;
    options.visibility = visibility;
    options.owner = owner;
    return Upload(server_->adapters(), name, FixtureAdapter("qv-r8"), options);
  }

  std::vector<std::string> ListAs(const std::string& key,
                                  const std::string& owner = "") {
    v1::ListAdaptersRequest request;
    request.set_owner(owner);
    v1::ListAdaptersResponse response;
    const grpc::Status status = server_->adapters().ListAdapters(
        NewContext(key).get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    std::vector<std::string> names;
    for (const auto& adapter : response.adapters()) {
      names.push_back(adapter.owner() + "/" + adapter.name());
    }
    return names;
  }

  grpc::Status GetAs(const std::string& key, const std::string& name) {
    v1::GetAdapterRequest request;
    request.set_name(name);
    v1::Adapter adapter;
    return server_->adapters().GetAdapter(NewContext(key).get(), request,
                                          &adapter);
  }
  grpc::Status DeleteAs(const std::string& key, const std::string& name) {
    v1::DeleteAdapterRequest request;
    request.set_name(name);
    v1::DeleteAdapterResponse response;
    return server_->adapters().DeleteAdapter(NewContext(key).get(), request,
                                             &response);
  }
  grpc::Status LoadAs(const std::string& key, const std::string& name) {
    v1::LoadAdapterRequest request;
    request.set_name(name);
    v1::LoadAdapterResponse response;
    return server_->adapters().LoadAdapter(NewContext(key).get(), request,
                                           &response);
  }
  grpc::Status GenerateAs(const std::string& key, const std::string& adapter) {
    return Generate(server_->generation(), GreedyRequest(adapter, {369}, 4),
                    key);
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(TenancyTest, MissingMalformedOrUnknownKeysAreUnauthenticated) {
  ASSERT_TRUE(UploadAs(kAcmeKey, "mine", v1::VISIBILITY_PUBLIC).ok());
  for (const std::string& key : {std::string(""), std::string("wrong-key")}) {
    SCOPED_TRACE("key '" + key + "'");
    EXPECT_EQ(GenerateAs(key, "").error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(GenerateStream(server_->generation(),
                             GreedyRequest("", {369}, 4), key)
                  .status.error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(GetAs(key, "acme/mine").error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(DeleteAs(key, "acme/mine").error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(LoadAs(key, "acme/mine").error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(UploadAs(key, "x", v1::VISIBILITY_PRIVATE).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::ListAdaptersResponse response;
    EXPECT_EQ(server_->adapters()
                  .ListAdapters(NewContext(key).get(), {}, &response)
                  .error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Another scheme, and two keys at once.
  grpc::ClientContext basic;
  basic.AddMetadata("authorization", std::string("Basic ") + kAcmeKey);
  v1::GenerateResponse response;
  EXPECT_EQ(server_->generation()
                .Generate(&basic, GreedyRequest("", {369}, 4), &response)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext twice;
  twice.AddMetadata("authorization", std::string("Bearer ") + kAcmeKey);
  twice.AddMetadata("authorization", std::string("Bearer ") + kGlobexKey);
  const grpc::Status status = server_->generation().Generate(
      &twice, GreedyRequest("", {369}, 4), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("more than one"));
  // Nothing was stored or deleted, and the failures were counted.
  EXPECT_THAT(ListAs(kAcmeKey), ElementsAre("acme/mine"));
  EXPECT_GE(*MetricValue(server_->ScrapeMetrics(), "loraplex_requests_total",
                         {{"tenant", "unauthenticated"},
                          {"code", "UNAUTHENTICATED"}}),
            16);
}

TEST_F(TenancyTest, TenantsSeeTheirOwnAndPublicAdaptersOnly) {
  ASSERT_TRUE(UploadAs(kAcmeKey, "shared", v1::VISIBILITY_PUBLIC).ok());
  ASSERT_TRUE(UploadAs(kAcmeKey, "secret", v1::VISIBILITY_PRIVATE).ok());
  // Names are per tenant.
  ASSERT_TRUE(UploadAs(kGlobexKey, "secret", v1::VISIBILITY_UNSPECIFIED).ok());

  EXPECT_THAT(ListAs(kAcmeKey), ElementsAre("acme/secret", "acme/shared"));
  EXPECT_THAT(ListAs(kGlobexKey), ElementsAre("acme/shared", "globex/secret"));
  EXPECT_THAT(ListAs(kGlobexKey, "acme"), ElementsAre("acme/shared"));
  EXPECT_THAT(ListAs(kAdminKey),
              ElementsAre("acme/secret", "acme/shared", "globex/secret"));

  // Another tenant's private adapter is exactly as missing as a missing one.
  const grpc::Status hidden = GetAs(kGlobexKey, "acme/secret");
  const grpc::Status missing = GetAs(kGlobexKey, "acme/nothing");
  EXPECT_EQ(hidden.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(hidden.error_message(),
            absl::StrReplaceAll(missing.error_message(), {{"nothing", "secret"}}));
  EXPECT_EQ(GenerateAs(kGlobexKey, "acme/secret").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(LoadAs(kGlobexKey, "acme/secret").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(DeleteAs(kGlobexKey, "acme/secret").error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Public: read and use, not delete. "<name>" alone is the caller's own.
  EXPECT_TRUE(GetAs(kGlobexKey, "acme/shared").ok());
  EXPECT_TRUE(GenerateAs(kGlobexKey, "acme/shared").ok());
  EXPECT_TRUE(LoadAs(kGlobexKey, "acme/shared").ok());
  EXPECT_EQ(GenerateAs(kGlobexKey, "shared").error_code(),
            grpc::StatusCode::NOT_FOUND);
  const grpc::Status denied = DeleteAs(kGlobexKey, "acme/shared");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr("only its owner"));
  const grpc::Status foreign_upload =
      UploadAs(kGlobexKey, "planted", v1::VISIBILITY_PRIVATE, "acme");
  EXPECT_EQ(foreign_upload.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Each tenant's "secret" is its own.
  EXPECT_TRUE(GenerateAs(kGlobexKey, "secret").ok());
  EXPECT_TRUE(GenerateAs(kAcmeKey, "secret").ok());
  EXPECT_TRUE(DeleteAs(kGlobexKey, "secret").ok());
  EXPECT_TRUE(GetAs(kAcmeKey, "secret").ok());

  // The admin manages everyone's.
  EXPECT_TRUE(GetAs(kAdminKey, "acme/secret").ok());
  EXPECT_TRUE(GenerateAs(kAdminKey, "acme/secret").ok());
  EXPECT_TRUE(UploadAs(kAdminKey, "gift", v1::VISIBILITY_PRIVATE, "globex").ok());
  EXPECT_THAT(ListAs(kGlobexKey), ElementsAre("acme/shared", "globex/gift"));
  EXPECT_TRUE(DeleteAs(kAdminKey, "acme/secret").ok());
  EXPECT_THAT(ListAs(kAcmeKey), ElementsAre("acme/shared"));

  // Requests are counted per tenant.
  EXPECT_GE(*MetricValue(server_->ScrapeMetrics(), "loraplex_requests_total",
                         {{"tenant", "globex"}, {"rpc", "GetAdapter"},
                          {"code", "NOT_FOUND"}}),
            2);
}

TEST_F(TenancyTest, BadAdapterNamesAreInvalidArgument) {
  const std::vector<std::string> bad = {
      "", ".", "..", "Foo", "a b", "-lead", "ünïcode", "a/b/c", "acme/..",
      "../etc", std::string(65, 'a')};
  for (const std::string& name : bad) {
    SCOPED_TRACE("name '" + name + "'");
    EXPECT_EQ(UploadAs(kAcmeKey, name.empty() ? "" : name, v1::VISIBILITY_PRIVATE)
                  .error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(GetAs(kAcmeKey, name).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(DeleteAs(kAcmeKey, name).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(LoadAs(kAcmeKey, name).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    if (!name.empty()) {  // An empty adapter means the base model.
      EXPECT_EQ(GenerateAs(kAcmeKey, name).error_code(),
                grpc::StatusCode::INVALID_ARGUMENT);
    }
  }
  // 64 characters is the longest valid name.
  EXPECT_TRUE(
      UploadAs(kAcmeKey, std::string(64, 'a'), v1::VISIBILITY_PRIVATE).ok());
}

TEST(OpenModeTest, EveryCallIsTheDefaultTenantWhateverItsKey) {
  loraplex::testing::TempDir registry;
  std::unique_ptr<TestServer> server =
      TestServer::Start(TestServerOptions(registry.path()));
  ASSERT_NE(server, nullptr);
  UploadOptions options;
  options.api_key = "anything";
  v1::Adapter adapter;
  ASSERT_TRUE(Upload(server->adapters(), "open", FixtureAdapter("qv-r8"),
                     options, &adapter)
                  .ok());
  EXPECT_EQ(adapter.owner(), "default");
  EXPECT_TRUE(Generate(server->generation(), GreedyRequest("open", {369}, 2))
                  .ok());
  EXPECT_TRUE(Generate(server->generation(),
                       GreedyRequest("default/open", {369}, 2), "other-key")
                  .ok());
}

}  // namespace
}  // namespace loraplex::service::e2e
