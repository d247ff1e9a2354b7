// The generated API: builds, links, and has the shape the servicers and
// clients rely on (streaming kinds, oneofs, field presence).
#include <string>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"

namespace loraplex::v1 {
namespace {

const google::protobuf::ServiceDescriptor& Service(const std::string& name) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          name);
  EXPECT_NE(service, nullptr) << name;
  return *service;
}

const google::protobuf::MethodDescriptor& Method(
    const google::protobuf::ServiceDescriptor& service,
    const std::string& name) {
  const google::protobuf::MethodDescriptor* method =
      service.FindMethodByName(name);
  EXPECT_NE(method, nullptr) << name;
  return *method;
}

TEST(ProtoTest, GenerationServiceHasUnaryAndServerStreamingCalls) {
  const auto& service = Service(GenerationService::service_full_name());
  EXPECT_EQ(service.full_name(), "loraplex.v1.GenerationService");
  EXPECT_EQ(service.file()->name(), "loraplex/v1/generation.proto");
  ASSERT_EQ(service.method_count(), 2);
  const auto& generate = Method(service, "Generate");
  EXPECT_FALSE(generate.client_streaming() || generate.server_streaming());
  const auto& stream = Method(service, "GenerateStream");
  EXPECT_FALSE(stream.client_streaming());
  EXPECT_TRUE(stream.server_streaming());
}

TEST(ProtoTest, AdapterServiceUploadsByClientStreaming) {
  const auto& service = Service(AdapterService::service_full_name());
  EXPECT_EQ(service.full_name(), "loraplex.v1.AdapterService");
  ASSERT_EQ(service.method_count(), 5);
  const auto& upload = Method(service, "UploadAdapter");
  EXPECT_TRUE(upload.client_streaming());
  EXPECT_FALSE(upload.server_streaming());
  for (const char* unary :
       {"GetAdapter", "ListAdapters", "DeleteAdapter", "LoadAdapter"}) {
    const auto& method = Method(service, unary);
    EXPECT_FALSE(method.client_streaming() || method.server_streaming())
        << unary;
  }
}

TEST(ProtoTest, PromptIsAOneofOfTextAndTokenIds) {
  GenerateRequest request;
  EXPECT_EQ(request.prompt_case(), GenerateRequest::PROMPT_NOT_SET);
  request.set_text("hello");
  EXPECT_EQ(request.prompt_case(), GenerateRequest::kText);
  request.mutable_token_ids()->add_ids(1);
  request.mutable_token_ids()->add_ids(42);
  EXPECT_EQ(request.prompt_case(), GenerateRequest::kTokenIds);
  EXPECT_TRUE(request.text().empty());

  GenerateRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  ASSERT_EQ(parsed.prompt_case(), GenerateRequest::kTokenIds);
  EXPECT_EQ(parsed.token_ids().ids_size(), 2);
  EXPECT_EQ(parsed.token_ids().ids(1), 42);
}

TEST(ProtoTest, OptionalFieldsTellUnsetFromZero) {
  GenerateRequest request;
  EXPECT_FALSE(request.sampling().has_top_p());
  EXPECT_FALSE(request.stopping().has_max_new_tokens());
  request.mutable_sampling()->set_top_p(0.0f);
  request.mutable_stopping()->set_max_new_tokens(0);
  GenerateRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  EXPECT_TRUE(parsed.sampling().has_top_p());
  EXPECT_TRUE(parsed.stopping().has_max_new_tokens());
  // Plain proto3 scalars have no presence: 0 temperature is greedy.
  EXPECT_EQ(parsed.sampling().temperature(), 0.0f);
}

TEST(ProtoTest, StreamMessagesAreChunksThenOneFinished) {
  GenerateStreamResponse chunk;
  chunk.mutable_chunk()->set_text("Hel");
  chunk.mutable_chunk()->add_token_ids(7);
  EXPECT_EQ(chunk.event_case(), GenerateStreamResponse::kChunk);
  GenerateStreamResponse finished;
  finished.mutable_finished()->set_finish_reason(FINISH_REASON_EOS);
  finished.mutable_finished()->mutable_usage()->set_completion_tokens(1);
  finished.mutable_finished()->mutable_timings()->mutable_total()->set_nanos(
      5000);
  GenerateStreamResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(finished.SerializeAsString()));
  ASSERT_EQ(parsed.event_case(), GenerateStreamResponse::kFinished);
  EXPECT_EQ(parsed.finished().finish_reason(), FINISH_REASON_EOS);
  EXPECT_EQ(parsed.finished().timings().total().nanos(), 5000);
}

TEST(ProtoTest, EnumsStartWithUnspecified) {
  EXPECT_EQ(FINISH_REASON_UNSPECIFIED, 0);
  EXPECT_EQ(FinishReason_Name(FINISH_REASON_CANCELLED),
            "FINISH_REASON_CANCELLED");
  EXPECT_EQ(VISIBILITY_UNSPECIFIED, 0);
  EXPECT_EQ(Visibility_Name(VISIBILITY_PUBLIC), "VISIBILITY_PUBLIC");
}

TEST(ProtoTest, AdapterMixingAndServingStateAreAdditiveFields) {
  // New field numbers only: old clients' messages read as before, and new
  // ones stay readable by old servers (which ignore what they do not know).
  const auto* request = GenerateRequest::descriptor();
  EXPECT_EQ(request->FindFieldByName("adapter")->number(), 1);
  const auto* adapters = request->FindFieldByName("adapters");
  ASSERT_NE(adapters, nullptr);
  EXPECT_EQ(adapters->number(), 7);
  EXPECT_TRUE(adapters->is_repeated());
  EXPECT_EQ(Adapter::descriptor()->FindFieldByName("serving_state")->number(),
            14);
  EXPECT_EQ(ADAPTER_RESIDENCY_UNSPECIFIED, 0);
  // An unset weight (meaning 1) is told apart from an explicit 0.
  GenerateRequest mixed;
  mixed.add_adapters()->set_name("a");
  mixed.add_adapters()->set_weight(0);
  GenerateRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(mixed.SerializeAsString()));
  ASSERT_EQ(parsed.adapters_size(), 2);
  EXPECT_FALSE(parsed.adapters(0).has_weight());
  EXPECT_TRUE(parsed.adapters(1).has_weight());
  EXPECT_EQ(parsed.adapters(1).weight(), 0.0f);
}

TEST(ProtoTest, UploadIsAHeaderThenChunks) {
  UploadAdapterRequest header;
  header.mutable_header()->set_name("support-bot");
  AdapterFile* file = header.mutable_header()->add_files();
  file->set_filename("adapter_config.json");
  file->set_size_bytes(3);
  UploadAdapterRequest chunk;
  chunk.mutable_chunk()->set_filename("adapter_config.json");
  chunk.mutable_chunk()->set_offset(0);
  chunk.mutable_chunk()->set_data(std::string("{}\n"));
  EXPECT_EQ(header.part_case(), UploadAdapterRequest::kHeader);
  EXPECT_EQ(chunk.part_case(), UploadAdapterRequest::kChunk);
  // A full 1 MiB chunk fits gRPC's default 4 MiB message limit.
  chunk.mutable_chunk()->set_data(std::string(1 << 20, 'x'));
  EXPECT_LT(chunk.ByteSizeLong(), size_t{4} << 20);
}

TEST(ProtoTest, HealthProtocolIsTheStandardOne) {
  EXPECT_EQ(grpc::health::v1::Health::service_full_name(),
            std::string("grpc.health.v1.Health"));
  EXPECT_EQ(grpc::health::v1::HealthCheckResponse::SERVING, 1);
  EXPECT_EQ(grpc::health::v1::HealthCheckRequest::descriptor()->file()->name(),
            "grpc/health/v1/health.proto");
}

}  // namespace
}  // namespace loraplex::v1
