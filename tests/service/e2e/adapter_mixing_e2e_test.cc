// Adapter mixing (GenerateRequest.adapters) and per-adapter observability
// (Adapter.serving_state, the opt-in loraplex_adapter_* series) over a real
// loopback gRPC server with API keys: the mix rules and their errors,
// tenancy for every adapter of a mix, and what GetAdapter, ListAdapters and
// /metrics report.
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
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

constexpr char kAcmeKey[] = "acme-mixing-key-1";
constexpr char kGlobexKey[] = "globex-mixing-key-2";
const std::vector<int32_t> kPrompt = {369, 12, 77};

class AdapterMixingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string keys;
    absl::StrAppend(
        &keys, *FormatApiKeyFileLine("acme", Role::kTenant, kAcmeKey), "\n",
        *FormatApiKeyFileLine("globex", Role::kTenant, kGlobexKey), "\n");
    loraplex::testing::WriteFile(dir_.Join("keys"), keys);
    ServerOptions options = TestServerOptions(dir_.Join("registry"));
    options.api_keys_file = dir_.Join("keys");
    // 2 x rank 16 = 32 rank rows of device memory (Note [Rank rows]):
    // qv-r8 + all-r16 + attn-r4-rslora (28) fit together.
    options.engine.max_resident_adapters = 2;
    options.metrics_adapter_labels = 1;
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
    UploadAs(kAcmeKey, "qv", "qv-r8", v1::VISIBILITY_PRIVATE);
    UploadAs(kAcmeKey, "all", "all-r16", v1::VISIBILITY_PRIVATE);
    UploadAs(kAcmeKey, "attn", "attn-r4-rslora", v1::VISIBILITY_PRIVATE);
    UploadAs(kGlobexKey, "secret", "qv-r8", v1::VISIBILITY_PRIVATE);
    UploadAs(kGlobexKey, "shared", "all-r16", v1::VISIBILITY_PUBLIC);
  }

  void UploadAs(const std::string& key, const std::string& name,
                const std::string& fixture, v1::Visibility visibility) {
    UploadOptions options;
    options.api_key = key;
    options.visibility = visibility;
    const grpc::Status status =
        Upload(server_->adapters(), name, FixtureAdapter(fixture), options);
    ASSERT_TRUE(status.ok()) << name << ": " << Describe(status);
  }

  // A greedy request mixing `mix` (a weight of NaN here leaves it unset).
  static v1::GenerateRequest MixRequest(
      const std::vector<std::pair<std::string, float>>& mix) {
    v1::GenerateRequest request = GreedyRequest("", kPrompt, 4);
    request.set_return_logprobs(true);
    for (const auto& [name, weight] : mix) {
      v1::AdapterWeight* entry = request.add_adapters();
      entry->set_name(name);
      if (!std::isnan(weight)) entry->set_weight(weight);
    }
    return request;
  }

  grpc::Status GenerateAs(const std::string& key,
                          const v1::GenerateRequest& request,
                          v1::GenerateResponse* response = nullptr) {
    return Generate(server_->generation(), request, key, response);
  }

  v1::Adapter GetAs(const std::string& key, const std::string& name) {
    v1::GetAdapterRequest request;
    request.set_name(name);
    v1::Adapter adapter;
    const grpc::Status status = server_->adapters().GetAdapter(
        NewContext(key).get(), request, &adapter);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return adapter;
  }

  grpc::Status LoadAs(const std::string& key, const std::string& name,
                      v1::LoadAdapterResponse* response) {
    v1::LoadAdapterRequest request;
    request.set_name(name);
    return server_->adapters().LoadAdapter(NewContext(key).get(), request,
                                           response);
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<TestServer> server_;
};

const float kUnset = std::numeric_limits<float>::quiet_NaN();

TEST_F(AdapterMixingTest, OneAdapterAtWeightOneIsTheAdapterFieldExactly) {
  v1::GenerateRequest plain = GreedyRequest("qv", kPrompt, 4);
  plain.set_return_logprobs(true);
  v1::GenerateResponse plain_response, unset_response, one_response;
  ASSERT_TRUE(GenerateAs(kAcmeKey, plain, &plain_response).ok());
  ASSERT_TRUE(
      GenerateAs(kAcmeKey, MixRequest({{"qv", kUnset}}), &unset_response).ok());
  ASSERT_TRUE(
      GenerateAs(kAcmeKey, MixRequest({{"acme/qv", 1.0f}}), &one_response)
          .ok());
  EXPECT_EQ(TokenIds(unset_response), TokenIds(plain_response));
  EXPECT_EQ(TokenIds(one_response), TokenIds(plain_response));
  // Bit for bit, not merely close.
  EXPECT_EQ(std::vector<float>(unset_response.logprobs().begin(),
                               unset_response.logprobs().end()),
            std::vector<float>(plain_response.logprobs().begin(),
                               plain_response.logprobs().end()));
}

TEST_F(AdapterMixingTest, AMixGeneratesOverUnaryAndStreamingCallsAlike) {
  const v1::GenerateRequest request =
      MixRequest({{"qv", 0.5f}, {"all", -0.75f}, {"attn", 2.0f}});
  v1::GenerateResponse unary;
  const grpc::Status status = GenerateAs(kAcmeKey, request, &unary);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(unary.token_ids_size(), 4);
  const StreamResult stream =
      GenerateStream(server_->generation(), request, kAcmeKey);
  ASSERT_TRUE(stream.status.ok()) << Describe(stream.status);
  EXPECT_EQ(stream.token_ids(), TokenIds(unary));
  EXPECT_EQ(stream.logprobs(), std::vector<float>(unary.logprobs().begin(),
                                                  unary.logprobs().end()));
}

TEST_F(AdapterMixingTest, TenancyAppliesToEveryAdapterOfAMix) {
  // Another tenant's private adapter is NOT_FOUND, as alone.
  grpc::Status status =
      GenerateAs(kAcmeKey, MixRequest({{"qv", 1.0f}, {"globex/secret", 0.5f}}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
      << Describe(status);
  status =
      GenerateAs(kGlobexKey, MixRequest({{"shared", 0.5f}, {"acme/qv", 0.5f}}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
      << Describe(status);
  // Another tenant's public adapter mixes with one's own.
  status = GenerateAs(kAcmeKey,
                      MixRequest({{"qv", 1.0f}, {"globex/shared", -0.3f}}));
  EXPECT_TRUE(status.ok()) << Describe(status);
}

TEST_F(AdapterMixingTest, TheMixRulesAreInvalidArgumentNamingTheField) {
  auto expect_invalid = [&](const v1::GenerateRequest& request,
                            const std::string& message) {
    const grpc::Status status = GenerateAs(kAcmeKey, request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr(message));
  };
  v1::GenerateRequest both = MixRequest({{"all", 0.5f}});
  both.set_adapter("qv");
  expect_invalid(both, "mutually exclusive");
  expect_invalid(MixRequest({{"qv", 1.0f},
                             {"all", 1.0f},
                             {"attn", 1.0f},
                             {"globex/shared", 1.0f},
                             {"qv", 1.0f}}),
                 "adapters[4]");
  expect_invalid(MixRequest({{"qv", 1.0f}, {"all", 10.5f}}),
                 "adapters[1].weight");
  expect_invalid(MixRequest({{"qv", -std::numeric_limits<float>::infinity()}}),
                 "adapters[0].weight");
  expect_invalid(MixRequest({{"qv", 0.5f}, {"acme/qv", 0.5f}}), "adapters[1]");
  expect_invalid(MixRequest({{"Not A Name", 0.5f}}), "adapters[0]");
  // Every entry is checked before any is looked up.
  expect_invalid(MixRequest({{"missing", 0.5f}, {"qv", 11.0f}}),
                 "adapters[1].weight");
  // Four distinct adapters of ranks adding up to 44: more than the 32 rank
  // rows of the server's device memory.
  expect_invalid(MixRequest({{"qv", 1.0f},
                             {"all", 1.0f},
                             {"attn", 1.0f},
                             {"globex/shared", 1.0f}}),
                 "max-resident-adapters");
}

TEST_F(AdapterMixingTest, GetAndListReportWhereEachAdapterIsAndItsUse) {
  v1::Adapter attn = GetAs(kAcmeKey, "attn");
  ASSERT_TRUE(attn.has_serving_state());
  EXPECT_EQ(attn.serving_state().residency(), v1::ADAPTER_RESIDENCY_DISK);
  EXPECT_EQ(attn.serving_state().requests(), 0u);
  EXPECT_FALSE(attn.serving_state().has_last_use_time());
  EXPECT_FALSE(attn.serving_state().pinned());

  ASSERT_TRUE(GenerateAs(kAcmeKey, GreedyRequest("qv", kPrompt, 4)).ok());
  ASSERT_TRUE(
      GenerateAs(kAcmeKey, MixRequest({{"qv", 0.5f}, {"all", 0.5f}})).ok());
  const v1::AdapterServingState qv = GetAs(kAcmeKey, "qv").serving_state();
  EXPECT_EQ(qv.residency(), v1::ADAPTER_RESIDENCY_DEVICE);
  EXPECT_EQ(qv.requests(), 2u);
  EXPECT_EQ(qv.prompt_tokens(), 2 * kPrompt.size());
  EXPECT_EQ(qv.completion_tokens(), 8u);
  EXPECT_TRUE(qv.has_last_use_time());
  EXPECT_EQ(qv.running_requests(), 0);
  EXPECT_FALSE(qv.pinned());

  v1::ListAdaptersRequest list_request;
  list_request.set_owner("acme");
  v1::ListAdaptersResponse list;
  ASSERT_TRUE(server_->adapters()
                  .ListAdapters(NewContext(kAcmeKey).get(), list_request, &list)
                  .ok());
  std::map<std::string, v1::AdapterServingState> listed;
  for (const v1::Adapter& adapter : list.adapters()) {
    ASSERT_TRUE(adapter.has_serving_state()) << adapter.name();
    listed[adapter.name()] = adapter.serving_state();
  }
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed["qv"].requests(), 2u);
  EXPECT_EQ(listed["all"].requests(), 1u);
  EXPECT_EQ(listed["all"].residency(), v1::ADAPTER_RESIDENCY_DEVICE);
  EXPECT_EQ(listed["attn"].residency(), v1::ADAPTER_RESIDENCY_DISK);

  // 32 rank rows: a fourth adapter (rank 16) needs the rows of the least
  // recently used ones, qv first, which goes back to host memory.
  v1::LoadAdapterResponse loaded;
  ASSERT_TRUE(LoadAs(kAcmeKey, "attn", &loaded).ok());
  EXPECT_EQ(loaded.adapter().serving_state().residency(),
            v1::ADAPTER_RESIDENCY_DEVICE);
  ASSERT_TRUE(LoadAs(kAcmeKey, "globex/shared", &loaded).ok());
  EXPECT_EQ(GetAs(kAcmeKey, "qv").serving_state().residency(),
            v1::ADAPTER_RESIDENCY_HOST);
}

TEST_F(AdapterMixingTest, AdapterSeriesAreLabelledForTheTopAdaptersOnly) {
  // --metrics-adapter-labels=1: the first adapter used holds the label; the
  // others count as "other" (a mix counts for each of its adapters).
  ASSERT_TRUE(GenerateAs(kAcmeKey, GreedyRequest("qv", kPrompt, 4)).ok());
  ASSERT_TRUE(GenerateAs(kAcmeKey, GreedyRequest("qv", kPrompt, 4)).ok());
  ASSERT_TRUE(
      GenerateAs(kAcmeKey, MixRequest({{"qv", 0.5f}, {"attn", 0.5f}})).ok());
  ASSERT_TRUE(GenerateAs(kAcmeKey, GreedyRequest("", kPrompt, 4)).ok());
  const std::string metrics = server_->ScrapeMetrics();
  EXPECT_EQ(MetricValue(metrics, "loraplex_adapter_requests_total",
                        {{"adapter", "acme/qv"}}),
            3);
  EXPECT_EQ(MetricValue(metrics, "loraplex_adapter_requests_total",
                        {{"adapter", "other"}}),
            1);
  EXPECT_EQ(MetricValue(metrics, "loraplex_adapter_completion_tokens_total",
                        {{"adapter", "acme/qv"}}),
            12);
  EXPECT_EQ(
      MetricValue(metrics, "loraplex_adapter_time_to_first_token_seconds_count",
                  {{"adapter", "acme/qv"}}),
      3);
  EXPECT_EQ(MetricValue(metrics, "loraplex_adapter_requests_total",
                        {{"adapter", "acme/attn"}}),
            std::nullopt);
}

}  // namespace
}  // namespace loraplex::service::e2e
