// Scheduling end to end: the device adapter cache with fewer slots than
// adapters in flight (and its metrics), client cancellation, deadlines, and
// back-pressure from a full admission queue.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
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
  stream.reader =
      server.generation().GenerateStream(stream.context.get(), request);
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
    ASSERT_TRUE(Generate(server->generation(),
                         GreedyRequest(adapter, prompt, 24), "", &response)
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
  // 12 requests over 6 adapters (ranks 8, 16, 4, 4, 4, 4: 40 rank rows)
  // with device memory for 32 rows: some found theirs resident.
  EXPECT_GT(Counter(after, hits), Counter(before, hits));
  // At most 32 rows / rank 4 at once.
  EXPECT_LE(Counter(after, "loraplex_adapters_resident", {{"tier", "device"}}),
            8);
  EXPECT_GT(Counter(after, "loraplex_adapter_load_seconds_count"), 0);
  const engine::EngineStats stats = server->app().engine().Stats();
  EXPECT_LE(stats.resident_adapters_device, 8);
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
  EXPECT_TRUE(
      Generate(server_->generation(), GreedyRequest("", {369}, 4)).ok());
}

TEST_F(BackPressureTest, UnaryDeadlineCancelsTheQueuedRequest) {
  const auto deadlines_exceeded = [&] {
    return Counter(server_->ScrapeMetrics(), "loraplex_requests_total",
                   {{"rpc", "Generate"}, {"code", "DEADLINE_EXCEEDED"}});
  };
  // The deadline has to pass while the call waits in the queue: after the
  // server has queued it (a fixed 50 ms failed 1 run in 5 on a busy
  // machine: the server had not seen the call yet), and before the two
  // requests ahead of it have run. Neither time is known, so each attempt
  // starts afresh and the deadline doubles when the call was not seen
  // queued, and halves when it was served before its deadline.
  // The running blocker also ends by itself after its 250 tokens (well
  // under a second on an idle machine); when that happens before the
  // second one is seen queued (a stress run saw it once), the attempt
  // proves nothing and is made again.
  bool tested = false;
  absl::Duration timeout = absl::Milliseconds(50);
  const auto cancel_both = [&](OpenStream& running, OpenStream& queued) {
    running.Cancel();
    queued.Cancel();
    return WaitFor(
        [&] {
          return Stats().queued_requests == 0 && Stats().running_sequences == 0;
        },
        absl::Seconds(60));
  };
  for (int attempt = 0; attempt < 12 && !tested; ++attempt) {
    const int64_t tokens_before = Stats().generated_tokens;
    OpenStream running = StartBlocker();
    v1::GenerateStreamResponse message;
    ASSERT_TRUE(running.reader->Read(&message));
    OpenStream queued = StartBlocker();
    ASSERT_TRUE(WaitFor(
        [&] {
          return Stats().queued_requests == 1 ||
                 Stats().generated_tokens - tokens_before >= 250;
        },
        absl::Seconds(60)));
    if (Stats().queued_requests != 1) {
      ASSERT_TRUE(cancel_both(running, queued));
      continue;
    }
    const double before = deadlines_exceeded();

    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    std::atomic<bool> returned{false};
    grpc::Status status;
    std::thread call([&] {
      v1::GenerateResponse response;
      status = server_->generation().Generate(
          &context, GreedyRequest("", {369}, 16), &response);
      returned = true;
    });
    ASSERT_TRUE(
        WaitFor([&] { return returned || Stats().queued_requests == 2; },
                absl::Seconds(60)));
    const bool seen_queued = !returned;
    call.join();
    if (seen_queued &&
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      tested = true;
      // It leaves the queue (the blocker may have moved up meanwhile).
      EXPECT_TRUE(WaitFor([&] { return Stats().queued_requests <= 1; },
                          absl::Seconds(60)));
      EXPECT_TRUE(WaitFor([&] { return deadlines_exceeded() >= before + 1; },
                          absl::Seconds(60)));
    } else {
      EXPECT_TRUE(status.ok() ||
                  status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
          << Describe(status);
      timeout = seen_queued ? timeout / 2 : timeout * 2;
    }
    ASSERT_TRUE(cancel_both(running, queued));
  }
  EXPECT_TRUE(tested) << "no attempt had its deadline pass in the queue";
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

// A stream read to its end on a thread of its own, so that the test can
// wait for "queued" and "refused" alike.
class BackgroundStream {
 public:
  BackgroundStream(TestServer& server, const std::string& key,
                   int32_t max_new_tokens)
      : context_(NewContext(key)) {
    reader_ = server.generation().GenerateStream(
        context_.get(), GreedyRequest("", {369}, max_new_tokens));
    thread_ = std::thread([this] {
      v1::GenerateStreamResponse message;
      while (reader_->Read(&message)) {
        if (message.has_finished()) finished_ = true;
        tokens_ += message.chunk().token_ids_size();
      }
      status_ = reader_->Finish();
      ended_ = true;
    });
  }
  ~BackgroundStream() { Cancel(); }
  bool ended() const { return ended_; }
  // Waits for the end; then status(), tokens(), finished() hold.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Cancel() {
    context_->TryCancel();
    Join();
  }
  const grpc::Status& status() const { return status_; }
  int tokens() const { return tokens_; }
  bool finished() const { return finished_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader_;
  std::atomic<bool> ended_{false};
  grpc::Status status_;
  int tokens_ = 0;
  bool finished_ = false;
  std::thread thread_;
};

// Issue 14, item 7: one tenant filling the queue made every other tenant's
// request RESOURCE_EXHAUSTED. With API keys, a tenant gets a share of the
// queue by default (Note [Per-tenant queue share]), so another tenant's
// request is still accepted and served.
TEST(QueueShareTest, ATenantThatFillsItsShareLeavesRoomForOthers) {
  loraplex::testing::TempDir dir;
  const std::string acme_key = "lpx_acme";
  const std::string globex_key = "lpx_globex";
  loraplex::testing::WriteFile(
      dir.Join("api-keys"),
      *FormatApiKeyFileLine("acme", Role::kTenant, acme_key) + "\n" +
          *FormatApiKeyFileLine("globex", Role::kTenant, globex_key) + "\n");
  ServerOptions options = TestServerOptions(dir.Join("registry"));
  options.api_keys_file = dir.Join("api-keys");
  options.engine.max_batch_size = 1;  // One running sequence at a time.
  options.engine.max_queued_requests = 8;
  // engine.max_queued_per_tenant stays at its default: automatic.
  std::unique_ptr<TestServer> server = TestServer::Start(options);
  ASSERT_NE(server, nullptr);
  const auto queued = [&] {
    return server->app().engine().Stats().queued_requests;
  };

  // acme: one request running, then as many queued as the server takes.
  std::vector<std::unique_ptr<BackgroundStream>> acme;
  acme.push_back(std::make_unique<BackgroundStream>(*server, acme_key, 250));
  ASSERT_TRUE(WaitFor(
      [&] { return server->app().engine().Stats().running_sequences == 1; }));
  for (int i = 0; i <= options.engine.max_queued_requests; ++i) {
    const int64_t before = queued();
    acme.push_back(std::make_unique<BackgroundStream>(*server, acme_key, 250));
    BackgroundStream& last = *acme.back();
    ASSERT_TRUE(WaitFor([&] { return last.ended() || queued() > before; }));
    if (last.ended()) break;  // Refused.
  }
  // acme got its share, a quarter of the queue, and no more.
  ASSERT_TRUE(acme.back()->ended());
  EXPECT_EQ(acme.back()->status().error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED)
      << Describe(acme.back()->status());
  EXPECT_EQ(queued(), 2);

  // globex is still accepted...
  BackgroundStream globex(*server, globex_key, 4);
  ASSERT_TRUE(WaitFor([&] { return globex.ended() || queued() == 3; }));
  EXPECT_FALSE(globex.ended()) << Describe(globex.status());
  // ...and served once acme's requests are out of the way.
  for (auto& stream : acme) stream->Cancel();
  globex.Join();
  EXPECT_TRUE(globex.status().ok()) << Describe(globex.status());
  EXPECT_TRUE(globex.finished());
  EXPECT_EQ(globex.tokens(), 4);
}

}  // namespace
}  // namespace loraplex::service::e2e
