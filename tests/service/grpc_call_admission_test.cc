// AdmitCall: the serving gate refuses a call before its key is looked at.
#include <grpcpp/server_context.h>

#include <memory>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "service/grpc/call_auth.h"
#include "service/grpc/servicer_deps.h"
#include "service/grpc/serving_gate.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;

TEST(CallAdmissionTest, AClosedGateRefusesNewCallsAsUnavailable) {
  const std::unique_ptr<ApiKeyStore> keys = ApiKeyStore::Open();
  ServingGate gate;
  ServicerDeps deps;
  deps.api_keys = keys.get();
  deps.serving_gate = &gate;
  grpc::ServerContext context;  // No authorization: open mode admits it.
  absl::StatusOr<Principal> admitted = AdmitCall(deps, context);
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->tenant, kDefaultTenant);

  gate.Close();
  admitted = AdmitCall(deps, context);
  EXPECT_EQ(admitted.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(admitted.status().message(), HasSubstr("shutting down"));
}

TEST(CallAdmissionTest, WithoutAGateCallsAreAuthenticatedOnly) {
  const std::unique_ptr<ApiKeyStore> keys = ApiKeyStore::Open();
  ServicerDeps deps;
  deps.api_keys = keys.get();
  grpc::ServerContext context;
  EXPECT_TRUE(AdmitCall(deps, context).ok());
}

}  // namespace
}  // namespace loraplex::service
