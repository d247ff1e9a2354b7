// Scheduling end to end: the device adapter cache with fewer slots than
// adapters in flight (and its metrics), client cancellation, deadlines, and
// back-pressure from a full admission queue.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;

// A stream the test keeps open: started, and read until its first chunk.
struct OpenStream {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader;

  // Cancels it and returns its final status.
  grpc::Status Cancel() {
    context->TryCancel();
    v1::GenerateStreamResponse message;
    while (reader->Read(&message)) {
    }
    return reader->Finish();
  }
};

OpenStream StartStream(TestServer& server, const v1::GenerateRequest& request) {
  OpenStream stream;
  stream.context = NewContext();
  stream.reader = server.generation().GenerateStream(stream.context.get(),
                                                     request);
  return stream;
}

double Counter(const std::string& metrics, const std::string& name,
               const std::map<std::string, std::string>& labels = {}) {
  return MetricValue(metrics, name, labels).value_or(0);
}

TEST(AdapterCacheTest, MoreAdaptersInFlightThanSlotsAllCompleteCorrectly) {
  loraplex::testing::TempDir registry;
  ServerOptions options = TestServerOptions(registry.path());
  options.engine.max_resident_adapters = 2;
  options.engine.max_host_adapters = 2;
  std::unique_ptr<TestServer> server = TestServer::Start(options);
  ASSERT_NE(server, nullptr);
  std::vector<std::string> adapters = {"qv-r8", "all-r16", "attn-r4-rslora"};
  for (const std::string& name : adapters) {
    ASSERT_TRUE(Upload(server->adapters(), name, FixtureAdapter(name)).ok());
  }
  for (uint32_t seed = 11; seed <= 13; ++seed) {
    RandomAdapterSpec spec;
    spec.seed = seed;
    const std::string name = "random-" + std::to_string(seed);
    ASSERT_TRUE(Upload(server->adapters(), name, RandomAdapter(spec)).ok());
    adapters.push_back(name);
  }
  const std::vector<int32_t> prompt = {137, 41, 124, 111, 365, 251, 503};
  std::vector<std::vector<int32_t>> alone;
  for (const std::string& adapter : adapters) {
    v1::GenerateResponse response;
    ASSERT_TRUE(Generate(server->generation(), GreedyRequest(adapter, prompt, 24),
                         "", &response)
                    .ok());
    alone.push_back(TokenIds(response));
  }
  const std::string before = server->ScrapeMetrics();

  std::vector<StreamResult> together(adapters.size() * 2);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < together.size(); ++i) {
    clients.emplace_back([&, i] {
      together[i] = GenerateStream(
          server->generation(),
          GreedyRequest(adapters[i % adapters.size()], prompt, 24));
    });
  }
  for (std::thread& client : clients) client.join();
  for (size_t i = 0; i < together.size(); ++i) {
    SCOPED_TRACE(adapters[i % adapters.size()]);
    ASSERT_TRUE(together[i].status.ok()) << Describe(together[i].status);
    EXPECT_EQ(together[i].token_ids(), alone[i % adapters.size()]);
  }

  const std::string after = server->ScrapeMetrics();
  const std::string misses = "loraplex_adapter_cache_misses_total";
  const std::string evictions = "loraplex_adapter_cache_evictions_total";
  const std::string hits = "loraplex_adapter_cache_hits_total";
  EXPECT_GT(Counter(after, misses), Counter(before, misses));
  EXPECT_GT(Counter(after, evictions, {{"tier", "device"}}),
            Counter(before, evictions, {{"tier", "device"}}));
  // 12 requests over 6 adapters with 2 slots: some found theirs resident.
  EXPECT_GT(Counter(after, hits), Counter(before, hits));
  EXPECT_LE(Counter(after, "loraplex_adapters_resident", {{"tier", "device"}}),
            2);
  EXPECT_GT(Counter(after, "loraplex_adapter_load_seconds_count"), 0);
  const engine::EngineStats stats = server->app().engine().Stats();
  EXPECT_LE(stats.resident_adapters_device, 2);
  EXPECT_LE(stats.resident_adapters_host, 2);
  EXPECT_GT(stats.adapter_evictions, 0);
}

class BackPressureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options = TestServerOptions(registry_.path());
    options.engine.max_batch_size = 1;  // One running sequence at a time.
    options.engine.max_queued_requests = 3;
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
  }

  // A stream that runs long: 250 tokens (prompt 1 + 250 < max_seq_len 256).
  OpenStream StartBlocker() {
    return StartStream(*server_, GreedyRequest("", {369}, 250));
  }

  engine::EngineStats Stats() { return server_->app().engine().Stats(); }

  loraplex::testing::TempDir registry_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(BackPressureTest, CancelledStreamLeavesTheBatchAndFreesItsSlot) {
  OpenStream running = StartBlocker();
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(running.reader->Read(&message));
  ASSERT_TRUE(running.reader->Read(&message));
  OpenStream waiting = StartBlocker();
  ASSERT_TRUE(WaitFor([&] { return Stats().queued_requests == 1; }));
  const int64_t tokens_before = Stats().generated_tokens;

  EXPECT_EQ(running.Cancel().error_code(), grpc::StatusCode::CANCELLED);
  // The freed slot goes to the waiting request, which starts streaming.
  ASSERT_TRUE(waiting.reader->Read(&message));
  EXPECT_TRUE(message.has_chunk());
  EXPECT_EQ(waiting.Cancel().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] {
    const engine::EngineStats stats = Stats();
    return stats.running_sequences == 0 && stats.queued_requests == 0 &&
           stats.kv_slots_in_use == 0;
  }));
  // Neither ran to its 250 tokens.
  EXPECT_LT(Stats().generated_tokens - tokens_before, 400);
  EXPECT_GE(Counter(server_->ScrapeMetrics(), "loraplex_requests_total",
                    {{"rpc", "GenerateStream"}, {"code", "CANCELLED"}}),
            2);
  // And the server keeps serving.
  EXPECT_TRUE(Generate(server_->generation(), GreedyRequest("", {369}, 4)).ok());
}

TEST_F(BackPressureTest, UnaryDeadlineCancelsTheQueuedRequest) {
  OpenStream running = StartBlocker();
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(running.reader->Read(&message));
  OpenStream queued = StartBlocker();
  ASSERT_TRUE(WaitFor([&] { return Stats().queued_requests == 1; }));

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(50));
  v1::GenerateResponse response;
  const grpc::Status status = server_->generation().Generate(
      &context, GreedyRequest("", {369}, 16), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << Describe(status);
  // It leaves the queue; the others stay.
  EXPECT_TRUE(WaitFor([&] { return Stats().queued_requests == 1; }));
  EXPECT_TRUE(WaitFor([&] {
    return Counter(server_->ScrapeMetrics(), "loraplex_requests_total",
                   {{"rpc", "Generate"}, {"code", "DEADLINE_EXCEEDED"}}) == 1;
  }));
  EXPECT_EQ(running.Cancel().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(queued.Cancel().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(BackPressureTest, FullQueueIsResourceExhaustedWithARetryHint) {
  OpenStream running = StartBlocker();
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(running.reader->Read(&message));
  std::vector<OpenStream> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(StartBlocker());
  ASSERT_TRUE(WaitFor([&] { return Stats().queued_requests == 3; }));

  grpc::ClientContext context;
  v1::GenerateResponse response;
  grpc::Status status = server_->generation().Generate(
      &context, GreedyRequest("", {369}, 4), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("queue is full"));
  EXPECT_THAT(status.error_message(), HasSubstr("retry after 200 ms"));
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto hint = trailers.find("retry-after-ms");
  ASSERT_NE(hint, trailers.end());
  EXPECT_EQ(std::string(hint->second.data(), hint->second.size()), "200");
  const StreamResult stream =
      GenerateStream(server_->generation(), GreedyRequest("", {369}, 4));
  EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Draining the queue makes room again.
  EXPECT_EQ(running.Cancel().error_code(), grpc::StatusCode::CANCELLED);
  for (OpenStream& stream_to_cancel : queued) stream_to_cancel.Cancel();
  ASSERT_TRUE(WaitFor([&] { return Stats().queued_requests == 0; }));
  status = Generate(server_->generation(), GreedyRequest("", {369}, 4));
  EXPECT_TRUE(status.ok()) << Describe(status);
}

TEST_F(BackPressureTest, ClientCancelOfAUnaryCallCancelsItsSequence) {
  OpenStream running = StartBlocker();
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(running.reader->Read(&message));
  grpc::ClientContext context;
  v1::GenerateResponse response;
  std::thread canceller([&] {
    WaitFor([&] { return Stats().queued_requests == 1; });
    context.TryCancel();
  });
  const grpc::Status status = server_->generation().Generate(
      &context, GreedyRequest("", {369}, 16), &response);
  canceller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return Stats().queued_requests == 0; }));
  EXPECT_EQ(running.Cancel().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace loraplex::service::e2e
