// The adapter lifecycle through the Engine API, under load: a failed load is
// retried after a backoff (Note [Adapter load retries]), LoadAdapter is
// never parked behind pinned slots, and an adapter unregistered while
// requests use it serves them to the end (Note [Adapter lifetime]).
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "engine/runtime/engine_impl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/engine_test_util.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/runtime/internal_engine.h"
#include "tests/engine/runtime/recording_hooks.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::CopyDirectory;
using ::loraplex::testing::TempDir;
using testing::Before;
using testing::Collector;
using testing::FindCase;
using testing::FixtureAdapterDir;
using testing::FixtureCase;
using testing::FixtureOptions;
using testing::GreedyRequest;
using testing::LoadFixtureCases;
using testing::MakeEngine;
using testing::RecordingHooks;
using testing::RegisterFixtureAdapters;

constexpr char kModel[] = "llama-gqa";

// A clock the test moves by hand.
class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  std::function<absl::Time()> AsFunction() {
    return [this] { return Now(); };
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'000'000);
};

// Counts EngineObserver::OnAdapterLoadFailed calls.
class LoadFailureCounter final : public EngineObserver {
 public:
  void OnAdapterLoadFailed(bool from_disk, absl::StatusCode code) override {
    if (from_disk) ++disk_;
  }
  int disk() const { return disk_.load(); }

 private:
  std::atomic<int> disk_{0};
};

// Runs `request` to its end and returns its final event and tokens.
std::pair<GenerationEvent, std::vector<int32_t>> Generate(
    Engine& engine, const GenerationRequest& request) {
  Collector collector;
  const auto id = engine.Submit(request, collector.Callback());
  EXPECT_TRUE(id.ok()) << id.status();
  if (!id.ok()) return {};
  collector.Wait();
  return {collector.final_event(), collector.tokens()};
}

TEST(AdapterLoadRetryTest, AFailedLoadIsRetriedOnceItsBackoffWindowEnds) {
  const auto cases = LoadFixtureCases(kModel);
  const FixtureCase& c = FindCase(cases, "qv-r8", 7);
  TempDir tmp;
  const std::string dir = tmp.Join("late");  // Its files arrive later.
  FakeClock clock;
  LoadFailureCounter failures;
  EngineInternalOptions internal;
  internal.adapter_first_retry_delay = absl::Seconds(1);
  internal.adapter_max_retry_delay = absl::Seconds(4);
  internal.adapter_clock = clock.AsFunction();
  auto engine = MakeEngine(FixtureOptions(kModel), &failures, internal);
  ASSERT_TRUE(engine->RegisterAdapter("late", dir).ok());
  GenerationRequest request = GreedyRequest(c);
  request.adapter_id = "late";

  auto [first, first_tokens] = Generate(*engine, request);
  EXPECT_EQ(first.finish_reason, FinishReason::kError);
  EXPECT_FALSE(first.error.ok());
  EXPECT_EQ(failures.disk(), 1);
  // Within the first window (1 s) the error is answered without a read.
  auto [second, second_tokens] = Generate(*engine, request);
  EXPECT_EQ(second.error, first.error);
  EXPECT_EQ(failures.disk(), 1);
  // After it, the next request reads again; the window doubles to 2 s.
  clock.Advance(absl::Milliseconds(1500));
  auto [third, third_tokens] = Generate(*engine, request);
  EXPECT_EQ(third.finish_reason, FinishReason::kError);
  EXPECT_EQ(failures.disk(), 2);
  // The files become readable, but the window (until 3.5 s) still holds.
  CopyDirectory(FixtureAdapterDir(kModel, "qv-r8"), dir);
  clock.Advance(absl::Milliseconds(1900));
  auto [fourth, fourth_tokens] = Generate(*engine, request);
  EXPECT_EQ(fourth.finish_reason, FinishReason::kError);
  EXPECT_EQ(failures.disk(), 2);
  // Past it, the adapter loads and serves: the failure was not sticky.
  clock.Advance(absl::Milliseconds(200));
  auto [fifth, fifth_tokens] = Generate(*engine, request);
  EXPECT_EQ(fifth.finish_reason, FinishReason::kLength) << fifth.error;
  EXPECT_EQ(fifth_tokens, c.greedy_ids);
  EXPECT_EQ(failures.disk(), 2);
  EXPECT_TRUE(engine->LoadAdapter("late").ok());
}

TEST(AdapterLoadRetryTest, TheBackoffDoublesUpToItsCap) {
  TempDir tmp;
  FakeClock clock;
  LoadFailureCounter failures;
  EngineInternalOptions internal;
  internal.adapter_first_retry_delay = absl::Seconds(1);
  internal.adapter_max_retry_delay = absl::Seconds(4);
  internal.adapter_clock = clock.AsFunction();
  auto engine = MakeEngine(FixtureOptions(kModel), &failures, internal);
  ASSERT_TRUE(engine->RegisterAdapter("missing", tmp.Join("missing")).ok());
  // Each step: advance the clock, ask for the adapter, count the reads.
  // Windows: 1 s, 2 s, 4 s, then 4 s again (capped).
  const std::vector<std::pair<absl::Duration, int>> steps = {
      {absl::ZeroDuration(), 1},  {absl::Milliseconds(999), 1},
      {absl::Milliseconds(1), 2}, {absl::Milliseconds(1999), 2},
      {absl::Milliseconds(1), 3}, {absl::Milliseconds(3999), 3},
      {absl::Milliseconds(1), 4}, {absl::Milliseconds(3999), 4},
      {absl::Milliseconds(1), 5},
  };
  absl::Duration elapsed;
  for (const auto& [advance, reads] : steps) {
    clock.Advance(advance);
    elapsed += advance;
    EXPECT_FALSE(engine->LoadAdapter("missing").ok());
    EXPECT_EQ(failures.disk(), reads) << "at " << elapsed;
  }
}

TEST(LoadAdapterTest, AnswersResourceExhaustedAtOnceWhenEverySlotIsPinned) {
  const auto cases = LoadFixtureCases(kModel);
  EngineOptions options = FixtureOptions(kModel);
  options.max_lora_rank = 16;
  // Device memory for 24 rank rows: qv-r8 and all-r16 fill it.
  EngineInternalOptions internal;
  internal.adapter_rank_rows = 24;
  auto created = EngineImpl::Create(options, /*observer=*/nullptr, internal);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Engine> engine = *std::move(created);
  RegisterFixtureAdapters(*engine, kModel, cases);

  // Two long generations pin all of it. As soon as both have a token, the
  // loop thread itself (in a callback) asks for a third adapter, so both
  // are certainly still running when the request is handled.
  absl::Mutex mu;
  int with_tokens = 0;  // Bit i: request i has a token.
  bool asked = false;
  absl::Status load_status = absl::UnknownError("not answered");
  bool pins_ended_first = true;
  absl::Notification answered;
  Collector a, b;
  auto callback = [&](Collector& collector, int bit) -> GenerationCallback {
    return Before(collector, [&, bit](const GenerationEvent& event) {
      bool ask = false;
      {
        absl::MutexLock lock(&mu);
        if (!event.token_ids.empty() && !event.finished) with_tokens |= bit;
        if (with_tokens == 3 && !asked) asked = ask = true;
      }
      if (!ask) return;
      engine->LoadAdapterAsync("attn-r4-rslora", [&](absl::Status status) {
        absl::MutexLock lock(&mu);
        load_status = std::move(status);
        pins_ended_first = a.finished() || b.finished();
        answered.Notify();
      });
    });
  };
  GenerationRequest r1 = GreedyRequest(FindCase(cases, "qv-r8", 1));
  GenerationRequest r2 = GreedyRequest(FindCase(cases, "all-r16", 1));
  r1.stopping.max_new_tokens = r2.stopping.max_new_tokens = 100;
  const auto id1 = engine->Submit(r1, callback(a, 1));
  const auto id2 = engine->Submit(r2, callback(b, 2));
  ASSERT_TRUE(id1.ok() && id2.ok());
  // A safety net only: the answer comes within a loop iteration.
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(load_status.code(), absl::StatusCode::kResourceExhausted)
        << load_status;
    EXPECT_THAT(load_status.message(), ::testing::HasSubstr("retry"));
    EXPECT_FALSE(pins_ended_first);
  }
  engine->Cancel(*id1);
  engine->Cancel(*id2);
  a.Wait();
  b.Wait();
  // Slots unpinned: the same call succeeds.
  EXPECT_TRUE(engine->LoadAdapter("attn-r4-rslora").ok());
  // Unknown ids are answered on the calling thread, before it returns.
  bool called = false;
  engine->LoadAdapterAsync("nope", [&called](absl::Status status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    called = true;
  });
  EXPECT_TRUE(called);
}

TEST(UnregisterAdapterTest, RequestsSubmittedBeforeItFinishWithTheirVersion) {
  const auto cases = LoadFixtureCases(kModel);
  RecordingHooks hooks;
  EngineInternalOptions internal;
  internal.hooks = &hooks;
  EngineOptions options = FixtureOptions(kModel);
  options.max_batch_size = 2;  // 2 running, the rest queued.
  hooks.HoldLoop();            // Nothing starts before all 8 are in.
  auto engine = MakeEngine(options, nullptr, internal);
  absl::Cleanup release_loop = [&hooks] { hooks.ReleaseLoop(); };
  ASSERT_TRUE(
      engine->RegisterAdapter("qv-r8", FixtureAdapterDir(kModel, "qv-r8"))
          .ok());

  constexpr int kRequests = 8;
  std::vector<std::unique_ptr<Collector>> collectors;
  std::vector<const FixtureCase*> request_cases;
  absl::Mutex mu;
  bool unregistered = false;
  absl::Status unregister_status;
  int finished_at_release = -1;
  absl::Notification released;
  auto count_finished = [&collectors] {
    int n = 0;
    for (const auto& c : collectors) n += c->finished() ? 1 : 0;
    return n;
  };
  auto on_released = [&] {
    absl::MutexLock lock(&mu);
    finished_at_release = count_finished();
    released.Notify();
  };
  for (int i = 0; i < kRequests; ++i) {
    const FixtureCase& c =
        FindCase(cases, "qv-r8", std::vector<size_t>{1, 7, 23}[i % 3]);
    request_cases.push_back(&c);
    collectors.push_back(std::make_unique<Collector>());
  }
  for (int i = 0; i < kRequests; ++i) {
    // The first token of any request (2 running, 6 queued) deletes the
    // adapter, from the loop thread.
    GenerationCallback callback =
        Before(*collectors[i], [&](const GenerationEvent&) {
          {
            absl::MutexLock lock(&mu);
            if (unregistered) return;
            unregistered = true;
          }
          const absl::Status status =
              engine->UnregisterAdapter("qv-r8", on_released);
          absl::MutexLock lock(&mu);
          unregister_status = status;
        });
    ASSERT_TRUE(
        engine->Submit(GreedyRequest(*request_cases[i]), callback).ok());
  }
  hooks.ReleaseLoop();

  for (int i = 0; i < kRequests; ++i) {
    collectors[i]->Wait();
    const GenerationEvent final_event = collectors[i]->final_event();
    EXPECT_EQ(final_event.finish_reason, FinishReason::kLength)
        << "request " << i << ": " << final_event.error;
    EXPECT_EQ(collectors[i]->tokens(), request_cases[i]->greedy_ids)
        << "request " << i;
  }
  // A safety net only: on_released follows the last request's end.
  ASSERT_TRUE(released.WaitForNotificationWithTimeout(absl::Seconds(60)));
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(unregistered);
  EXPECT_TRUE(unregister_status.ok()) << unregister_status;
  EXPECT_EQ(finished_at_release, kRequests);
  EXPECT_EQ(engine->Stats().registered_adapters, 0);
  EXPECT_EQ(engine->Stats().resident_adapters_device, 0);
  EXPECT_EQ(engine
                ->Submit(GreedyRequest(*request_cases[0]),
                         [](const GenerationEvent&) {})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(UnregisterAdapterTest, OnReleasedRunsInlineWhenNothingUsesTheAdapter) {
  auto engine = MakeEngine(FixtureOptions(kModel));
  ASSERT_TRUE(
      engine->RegisterAdapter("qv-r8", FixtureAdapterDir(kModel, "qv-r8"))
          .ok());
  ASSERT_TRUE(engine->LoadAdapter("qv-r8").ok());  // Copies, but no use.
  bool released = false;
  ASSERT_TRUE(
      engine->UnregisterAdapter("qv-r8", [&released] { released = true; })
          .ok());
  EXPECT_TRUE(released);
  bool unknown_released = false;
  EXPECT_EQ(engine->UnregisterAdapter("qv-r8", [&] { unknown_released = true; })
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(unknown_released);
  // The id can be registered again at once, and serves the new files.
  ASSERT_TRUE(
      engine->RegisterAdapter("qv-r8", FixtureAdapterDir(kModel, "all-r16"))
          .ok());
  const auto cases = LoadFixtureCases(kModel);
  GenerationRequest request = GreedyRequest(FindCase(cases, "all-r16", 7));
  request.adapter_id = "qv-r8";
  auto [event, tokens] = Generate(*engine, request);
  EXPECT_EQ(tokens, FindCase(cases, "all-r16", 7).greedy_ids);
}

}  // namespace
}  // namespace loraplex::engine
