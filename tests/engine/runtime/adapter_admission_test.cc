// Admission of requests that mix adapters when device memory is scarce
// (Notes [Mixed adapter admission] in adapter_cache.h and [Slot waiter] in
// engine_step.cc), and Engine::GetAdapterStates (Note [Adapter state]).
//
// The tests act from GenerationCallbacks, on the engine loop thread, so they
// know exactly which loop iterations have run: a request submitted in a
// request's k-th token event is first tried for admission before the
// (k+1)-th token event of that request.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "engine/runtime/engine_impl.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/engine_test_util.h"
#include "tests/engine/runtime/fixture_cases.h"

namespace loraplex::engine {
namespace {

using testing::Before;
using testing::Collector;
using testing::FixtureAdapterDir;
using testing::FixtureOptions;

constexpr char kModel[] = "llama-gqa";

// Device memory for 24 rank rows (Note [Rank rows] in lora_bank.h): room
// for two of the fixture adapters (ranks 8, 16 and 4) at a time, never for
// all three.
std::unique_ptr<Engine> MakeScarceEngine() {
  EngineOptions options = FixtureOptions(kModel);
  options.max_lora_rank = 16;
  EngineInternalOptions internal;
  internal.adapter_rank_rows = 24;
  absl::StatusOr<std::unique_ptr<Engine>> created =
      EngineImpl::Create(options, /*observer=*/nullptr, internal);
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return nullptr;
  std::unique_ptr<Engine> engine = *std::move(created);
  for (const char* name : {"qv-r8", "all-r16", "attn-r4-rslora"}) {
    EXPECT_TRUE(
        engine->RegisterAdapter(name, FixtureAdapterDir(kModel, name)).ok());
  }
  return engine;
}

GenerationRequest Plain(const std::string& adapter, int32_t max_new_tokens) {
  GenerationRequest r;
  r.adapter_id = adapter;
  r.prompt_ids = {3, 1, 4, 1, 5};
  r.stopping.max_new_tokens = max_new_tokens;
  r.stopping.ignore_eos = true;
  return r;
}

GenerationRequest Mix(std::vector<WeightedAdapter> adapters) {
  GenerationRequest r = Plain("", 2);
  r.adapters = std::move(adapters);
  return r;
}

AdapterState StateOf(const Engine& engine, const std::string& id) {
  const auto states = engine.GetAdapterStates({id});
  EXPECT_EQ(states.size(), 1u);
  EXPECT_TRUE(!states.empty() && states[0].has_value()) << id;
  return states.empty() || !states[0] ? AdapterState{} : *states[0];
}

// Scarce device memory. `long_request` pins qv-r8 for up to 100 tokens; all
// three adapters are in host memory, attn-r4-rslora on the device too
// (unpinned), and all-r16 (16 rows) does not fit beside them.
class ScarceSlotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = MakeScarceEngine();
    ASSERT_NE(engine_, nullptr);
    // Device after these: {all-r16, attn-r4-rslora}; host: all three.
    for (const char* name : {"qv-r8", "all-r16", "attn-r4-rslora"}) {
      ASSERT_TRUE(engine_->LoadAdapter(name).ok()) << name;
    }
  }

  // Submits the long qv-r8 request; `on_token(k)` runs in its k-th token
  // event (k = 1, 2, ...) on the loop thread.
  void StartLongRequest(std::function<void(int)> on_token) {
    auto tokens = std::make_shared<int>(0);  // Loop thread only.
    auto id = engine_->Submit(
        Plain("qv-r8", 100),
        Before(long_request_, [tokens, on_token = std::move(on_token)](
                                  const GenerationEvent& event) {
          if (event.token_ids.empty()) return;
          on_token(++*tokens);
        }));
    ASSERT_TRUE(id.ok()) << id.status();
    long_id_ = *id;
    long_id_known_.Notify();
  }

  // Cancels the long request; called from its token events, which may run
  // before Submit has returned its id to StartLongRequest.
  void CancelLongRequest() {
    long_id_known_.WaitForNotification();
    engine_->Cancel(long_id_);
  }

  std::unique_ptr<Engine> engine_;
  Collector long_request_;
  absl::Notification long_id_known_;
  RequestId long_id_ = 0;  // Set once, before long_id_known_ is notified.
};

TEST_F(ScarceSlotsTest, AWaitingMixHoldsNoPinsAndTakesNoSlot) {
  // The mix needs all-r16 (host) and attn-r4-rslora (device, unpinned):
  // more rank rows than are free while the long request pins qv-r8.
  Collector mix;
  absl::Mutex mu;
  std::optional<AdapterState> attn_while_waiting, all_while_waiting;
  bool mix_started_early = false;
  absl::Status load_status = absl::UnknownError("not answered");
  absl::Notification loaded;
  StartLongRequest([&](int k) {
    if (k == 1) {
      ASSERT_TRUE(
          engine_
              ->Submit(Mix({{"all-r16", 0.5f}, {"attn-r4-rslora", -0.5f}}),
                       mix.Callback())
              .ok());
    } else if (k == 2) {
      // The mix has been tried once and must wait.
      {
        absl::MutexLock lock(&mu);
        attn_while_waiting = StateOf(*engine_, "attn-r4-rslora");
        all_while_waiting = StateOf(*engine_, "all-r16");
        mix_started_early = mix.HasEvents();
      }
      // The unpinned slot is free for others: a load into it succeeds.
      engine_->LoadAdapterAsync("all-r16", [&](absl::Status status) {
        absl::MutexLock lock(&mu);
        load_status = status;
        CancelLongRequest();  // Now let the mix in.
        loaded.Notify();
      });
    }
  });
  // Safety nets only: each comes within a few loop iterations.
  ASSERT_TRUE(loaded.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(mix.WaitFor(absl::Seconds(60)));
  long_request_.Wait();
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(attn_while_waiting.has_value() && all_while_waiting.has_value());
  EXPECT_EQ(attn_while_waiting->residency, AdapterResidency::kDevice);
  EXPECT_EQ(attn_while_waiting->running_requests, 0);  // Not pinned.
  EXPECT_EQ(all_while_waiting->residency, AdapterResidency::kHost);
  EXPECT_FALSE(mix_started_early);
  EXPECT_TRUE(load_status.ok()) << load_status;
  const GenerationEvent mix_final = mix.final_event();
  EXPECT_EQ(mix_final.finish_reason, FinishReason::kLength) << mix_final.error;
  EXPECT_EQ(long_request_.final_event().finish_reason,
            FinishReason::kCancelled);
}

TEST_F(ScarceSlotsTest, AWaitingMixIsNotOvertakenForItsSlots) {
  // The mix waits for a slot; a plain request for attn-r4-rslora (resident,
  // unpinned) comes after it. Pinning that slot would keep the mix waiting
  // (for good, under a steady stream of such requests), so it waits too.
  Collector mix, overtaker;
  absl::Mutex mu;
  std::optional<AdapterState> attn_while_waiting;
  bool mix_started_before_overtaker = false;
  StartLongRequest([&](int k) {
    if (k == 1) {
      ASSERT_TRUE(
          engine_
              ->Submit(Mix({{"all-r16", 0.5f}, {"attn-r4-rslora", -0.5f}}),
                       mix.Callback())
              .ok());
      ASSERT_TRUE(engine_
                      ->Submit(Plain("attn-r4-rslora", 2),
                               Before(overtaker,
                                      [&](const GenerationEvent& event) {
                                        if (event.token_ids.empty()) return;
                                        absl::MutexLock lock(&mu);
                                        if (!overtaker.HasEvents()) {
                                          mix_started_before_overtaker =
                                              mix.HasEvents();
                                        }
                                      }))
                      .ok());
    } else if (k == 2) {
      absl::MutexLock lock(&mu);
      attn_while_waiting = StateOf(*engine_, "attn-r4-rslora");
      CancelLongRequest();
    }
  });
  // Safety nets only.
  ASSERT_TRUE(mix.WaitFor(absl::Seconds(60)));
  ASSERT_TRUE(overtaker.WaitFor(absl::Seconds(60)));
  long_request_.Wait();
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(attn_while_waiting.has_value());
  EXPECT_EQ(attn_while_waiting->running_requests, 0)
      << "the later request pinned the slot the waiting mix needs";
  EXPECT_TRUE(mix_started_before_overtaker);
  EXPECT_EQ(mix.final_event().finish_reason, FinishReason::kLength);
  EXPECT_EQ(overtaker.final_event().finish_reason, FinishReason::kLength);
}

TEST_F(ScarceSlotsTest,
       RequestsForPinnedAdaptersAndTheBaseModelPassAWaitingMix) {
  Collector mix, same_adapter, base;
  absl::Mutex mu;
  bool others_done_while_mix_waited = false;
  StartLongRequest([&](int k) {
    if (k == 1) {
      ASSERT_TRUE(
          engine_
              ->Submit(Mix({{"all-r16", 0.5f}, {"attn-r4-rslora", -0.5f}}),
                       mix.Callback())
              .ok());
      // qv-r8 is pinned by the long request: using it takes no slot.
      ASSERT_TRUE(
          engine_->Submit(Plain("qv-r8", 2), same_adapter.Callback()).ok());
      ASSERT_TRUE(engine_->Submit(Plain("", 2), base.Callback()).ok());
    } else if (same_adapter.finished() && base.finished()) {
      absl::MutexLock lock(&mu);
      if (!others_done_while_mix_waited) {
        others_done_while_mix_waited = !mix.HasEvents();
        CancelLongRequest();
      }
    }
  });
  ASSERT_TRUE(mix.WaitFor(absl::Seconds(60)));  // Safety net only.
  long_request_.Wait();
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(others_done_while_mix_waited);
  EXPECT_EQ(mix.final_event().finish_reason, FinishReason::kLength);
  EXPECT_EQ(same_adapter.final_event().finish_reason, FinishReason::kLength);
  EXPECT_EQ(base.final_event().finish_reason, FinishReason::kLength);
}

TEST(AdapterStateTest, ReportsResidencyPinsAndUsage) {
  auto engine = MakeScarceEngine();
  ASSERT_NE(engine, nullptr);
  const auto unknown = engine->GetAdapterStates({"nope", "qv-r8"});
  ASSERT_EQ(unknown.size(), 2u);
  EXPECT_FALSE(unknown[0].has_value());
  ASSERT_TRUE(unknown[1].has_value());
  EXPECT_EQ(unknown[1]->residency, AdapterResidency::kDisk);
  EXPECT_EQ(unknown[1]->requests, 0);
  EXPECT_FALSE(unknown[1]->last_used.has_value());

  // Three loads that do not fit together: the least recently used goes
  // back to host.
  for (const char* name : {"qv-r8", "all-r16", "attn-r4-rslora"}) {
    ASSERT_TRUE(engine->LoadAdapter(name).ok()) << name;
  }
  EXPECT_EQ(StateOf(*engine, "qv-r8").residency, AdapterResidency::kHost);
  EXPECT_EQ(StateOf(*engine, "all-r16").residency, AdapterResidency::kDevice);
  ASSERT_TRUE(engine->EvictAdapter("attn-r4-rslora").ok());
  EXPECT_EQ(StateOf(*engine, "attn-r4-rslora").residency,
            AdapterResidency::kDisk);

  // While a request runs, its adapter's slot is pinned.
  std::optional<AdapterState> during;
  Collector plain;
  const absl::Time before = absl::Now();
  ASSERT_TRUE(engine
                  ->Submit(Plain("qv-r8", 3),
                           Before(plain,
                                  [&](const GenerationEvent& event) {
                                    if (!during && !event.finished) {
                                      during = StateOf(*engine, "qv-r8");
                                    }
                                  }))
                  .ok());
  plain.Wait();
  ASSERT_TRUE(during.has_value());
  EXPECT_EQ(during->residency, AdapterResidency::kDevice);
  EXPECT_EQ(during->running_requests, 1);
  AdapterState after = StateOf(*engine, "qv-r8");
  EXPECT_EQ(after.running_requests, 0);
  EXPECT_EQ(after.requests, 1);
  EXPECT_EQ(after.prompt_tokens, 5);
  EXPECT_EQ(after.completion_tokens, 3);
  ASSERT_TRUE(after.last_used.has_value());
  EXPECT_GE(*after.last_used, before);

  // A mix counts for each of its adapters.
  Collector mixed;
  ASSERT_TRUE(
      engine
          ->Submit(Mix({{"qv-r8", 0.5f}, {"all-r16", 2.0f}}), mixed.Callback())
          .ok());
  mixed.Wait();
  EXPECT_EQ(StateOf(*engine, "qv-r8").requests, 2);
  EXPECT_EQ(StateOf(*engine, "qv-r8").completion_tokens, 5);
  EXPECT_EQ(StateOf(*engine, "all-r16").requests, 1);
  EXPECT_EQ(StateOf(*engine, "all-r16").prompt_tokens, 5);
  EXPECT_EQ(StateOf(*engine, "attn-r4-rslora").requests, 0);
}

}  // namespace
}  // namespace loraplex::engine
