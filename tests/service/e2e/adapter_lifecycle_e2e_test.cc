// LoadAdapter and DeleteAdapter against requests in flight: with every
// device slot pinned LoadAdapter answers RESOURCE_EXHAUSTED at once and
// holds no thread, so uploads are never stuck behind it (Note [No RPC kind
// starves another] in service/grpc/blocking_executor.h); and a delete lets
// every request submitted before it finish with the adapter it started
// with, then removes the files, for good (Note [Deleting an adapter in use]
// in service/registry/adapter_registry.h).
//
// A device slot is pinned only while a request runs, and the fixture model
// generates a few hundred tokens in well under a second; so each scenario
// checks afterwards, from the engine's own counters, that the request was
// still running when the call under test was answered, and runs again when
// it was not (the answer then proves nothing either way).
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;

// Greedy reference output of the qv-r8 fixture adapter on prompt [369].
const std::vector<int32_t> kQvR8On369 = {271, 356, 455, 441, 8,   77, 262, 43,
                                         26,  262, 43,  26,  190, 26, 32,  43};
constexpr int kAttempts = 20;
// Prompt [369] plus this many tokens fill the fixture model's 256 positions.
constexpr int32_t kLongestOutput = 255;

// A stream the test keeps open, read up to its first message (so it runs).
class RunningStream {
 public:
  RunningStream(TestServer& server, const std::string& adapter) {
    context_ = NewContext();
    reader_ = server.generation().GenerateStream(
        context_.get(), GreedyRequest(adapter, {369}, kLongestOutput));
    v1::GenerateStreamResponse first;
    started_ = reader_->Read(&first);
  }
  ~RunningStream() {
    context_->TryCancel();
    v1::GenerateStreamResponse message;
    while (reader_->Read(&message)) {
    }
    reader_->Finish().IgnoreError();
  }
  bool started() const { return started_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader_;
  bool started_ = false;
};

class AdapterLifecycleTest : public ::testing::Test {
 protected:
  void StartServer(const ServerOptions& options) {
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
  }
  int64_t Running() {
    return server_->app().engine().Stats().running_sequences;
  }
  int64_t Queued() { return server_->app().engine().Stats().queued_requests; }

  grpc::Status LoadAdapter(const std::string& name,
                           std::string* retry_after_ms = nullptr) {
    v1::LoadAdapterRequest request;
    request.set_name(name);
    v1::LoadAdapterResponse response;
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    const grpc::Status status =
        server_->adapters().LoadAdapter(context.get(), request, &response);
    if (retry_after_ms != nullptr) {
      const auto& trailers = context->GetServerTrailingMetadata();
      auto hint = trailers.find("retry-after-ms");
      *retry_after_ms =
          hint == trailers.end()
              ? ""
              : std::string(hint->second.data(), hint->second.size());
    }
    return status;
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(AdapterLifecycleTest,
       LoadAdapterWithEverySlotPinnedIsResourceExhausted) {
  ServerOptions options = TestServerOptions(dir_.Join("registry"));
  options.engine.max_resident_adapters = 1;
  StartServer(options);
  ASSERT_TRUE(
      Upload(server_->adapters(), "pinned", FixtureAdapter("qv-r8")).ok());
  ASSERT_TRUE(
      Upload(server_->adapters(), "other", FixtureAdapter("all-r16")).ok());
  bool conclusive = false;
  for (int attempt = 0; attempt < kAttempts && !conclusive; ++attempt) {
    RunningStream stream(*server_, "pinned");  // Pins the only slot.
    ASSERT_TRUE(stream.started());
    std::string retry_after;
    const grpc::Status status = LoadAdapter("other", &retry_after);
    if (Running() == 0) continue;  // The stream ended first: try again.
    conclusive = true;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << Describe(status);
    EXPECT_FALSE(retry_after.empty());
  }
  EXPECT_TRUE(conclusive) << "LoadAdapter was never answered while the slot "
                             "was pinned (it waited for the slot)";
  // Once nothing pins the slot, it loads.
  ASSERT_TRUE(WaitFor([&] { return Running() == 0; }, absl::Seconds(60)));
  const grpc::Status loaded = LoadAdapter("other");
  EXPECT_TRUE(loaded.ok()) << Describe(loaded);
}

TEST_F(AdapterLifecycleTest,
       UploadsCompleteWhileLoadAdapterCallsAreOutstanding) {
  ServerOptions options = TestServerOptions(dir_.Join("registry"));
  options.engine.max_resident_adapters = 1;
  options.blocking_threads = 2;
  StartServer(options);
  ASSERT_TRUE(
      Upload(server_->adapters(), "pinned", FixtureAdapter("qv-r8")).ok());
  ASSERT_TRUE(
      Upload(server_->adapters(), "other", FixtureAdapter("all-r16")).ok());
  constexpr int kLoads = 4;
  bool conclusive = false;
  for (int attempt = 0; attempt < kAttempts && !conclusive; ++attempt) {
    RunningStream stream(*server_, "pinned");
    ASSERT_TRUE(stream.started());
    // Several LoadAdapter calls in flight at once...
    struct Call {
      std::unique_ptr<grpc::ClientContext> context = NewContext();
      v1::LoadAdapterRequest request;
      v1::LoadAdapterResponse response;
    };
    std::vector<Call> calls(kLoads);
    absl::BlockingCounter answered(kLoads);
    for (Call& call : calls) {
      call.request.set_name("other");
      server_->adapters().async()->LoadAdapter(
          call.context.get(), &call.request, &call.response,
          [&answered](grpc::Status) { answered.DecrementCount(); });
    }
    // ... and an upload still goes through while the slot stays pinned.
    const std::string name = absl::StrCat("fresh-", attempt);
    const grpc::Status uploaded =
        Upload(server_->adapters(), name, FixtureAdapter("attn-r4-rslora"));
    const bool still_pinned = Running() > 0;
    for (Call& call : calls) call.context->TryCancel();
    answered.Wait();
    if (!still_pinned) continue;
    conclusive = true;
    EXPECT_TRUE(uploaded.ok()) << Describe(uploaded);
  }
  EXPECT_TRUE(conclusive) << "no upload completed while the slot was pinned "
                             "(uploads waited behind LoadAdapter)";
}

TEST_F(AdapterLifecycleTest, DeleteLetsEveryStartedRequestFinishThenRemovesIt) {
  constexpr int kStreams = 8;
  ServerOptions options = TestServerOptions(dir_.Join("registry"));
  options.engine.max_batch_size = 2;  // 2 running, 6 queued.
  StartServer(options);
  bool conclusive = false;
  for (int attempt = 0; attempt < kAttempts && !conclusive; ++attempt) {
    const std::string name = absl::StrCat("doomed-", attempt);
    v1::Adapter stored;
    ASSERT_TRUE(
        Upload(server_->adapters(), name, FixtureAdapter("qv-r8"), {}, &stored)
            .ok());
    const std::string stored_dir =
        dir_.Join("registry/adapters/default/" + name + "@" + stored.version());
    ASSERT_TRUE(std::filesystem::exists(stored_dir));

    std::vector<StreamResult> results(kStreams);
    std::vector<std::thread> clients;
    for (int i = 0; i < kStreams; ++i) {
      clients.emplace_back([&, i] {
        results[i] = GenerateStream(server_->generation(),
                                    GreedyRequest(name, {369}, kLongestOutput));
      });
    }
    // Every stream submitted, none finished: some run, the others queue.
    const bool all_in_flight =
        WaitFor([&] { return Running() == 2 && Queued() == kStreams - 2; },
                absl::Seconds(30));
    v1::DeleteAdapterRequest del;
    del.set_name(name);
    v1::DeleteAdapterResponse deleted;
    const grpc::Status status =
        server_->adapters().DeleteAdapter(NewContext().get(), del, &deleted);
    const bool queued_at_delete = Queued() > 0;
    for (std::thread& client : clients) client.join();
    ASSERT_TRUE(status.ok()) << Describe(status);
    if (!all_in_flight || !queued_at_delete) continue;
    conclusive = true;

    for (const StreamResult& result : results) {
      ASSERT_TRUE(result.status.ok()) << Describe(result.status);
      ASSERT_TRUE(result.finished.has_value());
      EXPECT_EQ(result.finished->finish_reason(), v1::FINISH_REASON_LENGTH);
      const std::vector<int32_t> ids = result.token_ids();
      ASSERT_EQ(ids.size(), static_cast<size_t>(kLongestOutput));
      EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 16),
                kQvR8On369);
    }
    const grpc::Status after =
        Generate(server_->generation(), GreedyRequest(name, {369}, 4));
    EXPECT_EQ(after.error_code(), grpc::StatusCode::NOT_FOUND)
        << Describe(after);
    // Once the last request finished, the files went.
    // (Moved into .trash/, then removed from there.)
    EXPECT_TRUE(WaitFor(
        [&] {
          return !std::filesystem::exists(stored_dir) &&
                 DirEntries(dir_.Join("registry/.trash")).empty();
        },
        absl::Seconds(60)));

    // A restart does not bring it back.
    server_->Stop();
    StartServer(options);
    v1::GetAdapterRequest get;
    get.set_name(name);
    v1::Adapter adapter;
    EXPECT_EQ(server_->adapters()
                  .GetAdapter(NewContext().get(), get, &adapter)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND);
    EXPECT_FALSE(std::filesystem::exists(stored_dir));
  }
  EXPECT_TRUE(conclusive) << "the delete never came while requests queued";
}

}  // namespace
}  // namespace loraplex::service::e2e
