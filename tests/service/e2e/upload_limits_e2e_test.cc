// What an upload may hold (Note [Upload limits] in
// service/grpc/upload_supervisor.h): slots per tenant and over the server,
// refused with RESOURCE_EXHAUSTED and a retry hint; the idle and total
// deadlines; and retries of an upload that committed (Note [Idempotent
// upload] in service/registry/adapter_registry.h).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kAcmeKey[] = "acme-upload-key";
constexpr char kGlobexKey[] = "globex-upload-key";
constexpr char kInitechKey[] = "initech-upload-key";

class UploadLimitsTest : public ::testing::Test {
 protected:
  void StartServer(const UploadLimits& limits) {
    std::string keys;
    for (const auto& [tenant, key] :
         {std::pair<const char*, const char*>{"acme", kAcmeKey},
          {"globex", kGlobexKey},
          {"initech", kInitechKey}}) {
      absl::StrAppend(&keys, *FormatApiKeyFileLine(tenant, Role::kTenant, key),
                      "\n");
    }
    loraplex::testing::WriteFile(dir_.Join("keys"), keys);
    ServerOptions options = TestServerOptions(dir_.Join("registry"));
    options.api_keys_file = dir_.Join("keys");
    options.upload_limits = limits;
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
  }

  size_t Staged() { return DirEntries(dir_.Join("registry/.staging")).size(); }

  // Starts an upload that sends its header only; returns once the server
  // holds it (its staging directory exists).
  std::unique_ptr<OpenUpload> Hold(const std::string& key,
                                   const std::string& name) {
    const size_t before = Staged();
    std::unique_ptr<OpenUpload> upload =
        StartUpload(server_->adapters(), UploadMessages(name, files_), 1, key);
    EXPECT_TRUE(
        WaitFor([&] { return Staged() == before + 1; }, absl::Seconds(60)))
        << name << " was not admitted";
    return upload;
  }

  // Starts an upload the server must refuse at once; its status.
  grpc::Status Refused(const std::string& key, const std::string& name,
                       std::string* retry_after_ms) {
    std::unique_ptr<OpenUpload> upload =
        StartUpload(server_->adapters(), UploadMessages(name, files_), 1, key);
    const grpc::Status status = upload->Finish();
    const auto& trailers = upload->context->GetServerTrailingMetadata();
    auto hint = trailers.find("retry-after-ms");
    *retry_after_ms = hint == trailers.end() ? ""
                                             : std::string(hint->second.data(),
                                                           hint->second.size());
    return status;
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<TestServer> server_;
  const AdapterFiles files_ = FixtureAdapter("qv-r8");
};

TEST_F(UploadLimitsTest, SlotsAreBoundedPerTenantAndOverallWithARetryHint) {
  UploadLimits limits;
  limits.max_concurrent = 3;
  limits.max_per_tenant = 2;
  StartServer(limits);
  std::unique_ptr<OpenUpload> acme_1 = Hold(kAcmeKey, "a1");
  std::unique_ptr<OpenUpload> acme_2 = Hold(kAcmeKey, "a2");
  std::string retry_after;
  grpc::Status status = Refused(kAcmeKey, "a3", &retry_after);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("--max-uploads-per-tenant"));
  EXPECT_EQ(retry_after, "1000");

  std::unique_ptr<OpenUpload> globex_1 = Hold(kGlobexKey, "g1");
  status = Refused(kGlobexKey, "g2", &retry_after);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("--max-concurrent-uploads"));
  EXPECT_EQ(retry_after, "1000");
  EXPECT_EQ(Staged(), 3u);

  // A slot given back is taken by the next upload, which completes.
  EXPECT_EQ(acme_1->Cancel().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitFor([&] { return Staged() == 2; }, absl::Seconds(60)));
  UploadOptions initech;
  initech.api_key = kInitechKey;
  status = Upload(server_->adapters(), "i1", files_, initech);
  EXPECT_TRUE(status.ok()) << Describe(status);
  // The held ones still complete too.
  const std::vector<v1::UploadAdapterRequest> a2 = UploadMessages("a2", files_);
  ASSERT_TRUE(acme_2->Send({a2.begin() + 1, a2.end()}));
  status = acme_2->Finish();
  EXPECT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(globex_1->Cancel().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return Staged() == 0; }, absl::Seconds(60)));
}

TEST_F(UploadLimitsTest, AnIdleUploadEndsWithDeadlineExceeded) {
  UploadLimits limits;
  limits.max_per_tenant = 1;
  limits.idle_timeout = absl::Milliseconds(300);
  StartServer(limits);
  const std::vector<v1::UploadAdapterRequest> messages =
      UploadMessages("idle", files_);
  // Header and one chunk, then nothing.
  std::unique_ptr<OpenUpload> idle =
      StartUpload(server_->adapters(), messages, 2, kAcmeKey);
  // The client's own deadline is a minute away: this is the server's.
  const grpc::Status status = idle->writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("--upload-idle-timeout"));
  EXPECT_TRUE(WaitFor([&] { return Staged() == 0; }, absl::Seconds(60)));
  // Its slot is free again, and uploads that keep sending are unaffected.
  UploadOptions acme;
  acme.api_key = kAcmeKey;
  const grpc::Status next = Upload(server_->adapters(), "next", files_, acme);
  EXPECT_TRUE(next.ok()) << Describe(next);
}

TEST_F(UploadLimitsTest, AnUploadEndsAtItsTotalDeadline) {
  UploadLimits limits;
  limits.total_timeout = absl::Milliseconds(300);
  StartServer(limits);
  std::unique_ptr<OpenUpload> slow = StartUpload(
      server_->adapters(), UploadMessages("slow", files_), 1, kAcmeKey);
  const grpc::Status status = slow->writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("--upload-timeout"));
  EXPECT_TRUE(WaitFor([&] { return Staged() == 0; }, absl::Seconds(60)));
}

// An upload cancelled right after its last chunk may have committed; its
// retry answers OK with what is stored (adapters.proto, UploadAdapter).
TEST_F(UploadLimitsTest, RetryOfACommittedUploadIsOkWithTheStoredAdapter) {
  StartServer(UploadLimits());
  UploadOptions acme;
  acme.api_key = kAcmeKey;
  acme.description = "first try";
  v1::Adapter first;
  ASSERT_TRUE(Upload(server_->adapters(), "bot", files_, acme, &first).ok());
  v1::Adapter retry;
  grpc::Status status =
      Upload(server_->adapters(), "bot", files_, acme, &retry);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(retry.version(), first.version());
  EXPECT_EQ(retry.create_time().seconds(), first.create_time().seconds());
  EXPECT_EQ(retry.create_time().nanos(), first.create_time().nanos());
  // It was not registered twice: the adapter serves.
  EXPECT_TRUE(
      Generate(server_->generation(), GreedyRequest("bot", {369}, 4), kAcmeKey)
          .ok());
  // Anything else under the name is a conflict.
  acme.description = "another adapter";
  status = Upload(server_->adapters(), "bot", files_, acme);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << Describe(status);
  acme.description = "first try";
  status = Upload(server_->adapters(), "bot", FixtureAdapter("all-r16"), acme);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << Describe(status);
  EXPECT_THAT(DirEntries(dir_.Join("registry/.staging")), IsEmpty());
}

}  // namespace
}  // namespace loraplex::service::e2e
