// The Engine API end to end on the reference fixtures: continuous batching
// with heterogeneous adapters, adapter cache tiers, cancellation, limits,
// stopping, seeded sampling and shutdown.
#include "engine/engine.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/engine_test_util.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/runtime/internal_engine.h"
#include "tests/engine/runtime/recording_hooks.h"

namespace loraplex::engine {
namespace {

using testing::Collector;
using testing::FindCase;
using testing::FixtureAdapterDir;
using testing::FixtureCase;
using testing::FixtureModelDir;
using testing::FixtureOptions;
using testing::GreedyRequest;
using ::testing::HasSubstr;
using testing::LoadFixtureCases;
using testing::MakeEngine;
using testing::MaxAbsDiff;
using testing::RecordingHooks;
using testing::RegisterFixtureAdapters;
using testing::WithFirstEvent;

// Submits every case at once (greedy), waits for all and expects each to
// give the reference tokens and last logits (1e-4). Returns the collectors,
// or none (and a failure) when a Submit fails.
std::vector<std::unique_ptr<Collector>> RunAllAndExpectReference(
    Engine& engine, const std::vector<FixtureCase>& cases) {
  std::vector<std::unique_ptr<Collector>> collectors;
  for (const FixtureCase& c : cases) {
    collectors.push_back(std::make_unique<Collector>());
    const auto submitted =
        engine.Submit(GreedyRequest(c), collectors.back()->Callback());
    if (!submitted.ok()) {
      ADD_FAILURE() << submitted.status();
      for (size_t i = 0; i + 1 < collectors.size(); ++i) collectors[i]->Wait();
      return {};
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    collectors[i]->Wait();
    EXPECT_EQ(collectors[i]->tokens(), cases[i].greedy_ids) << "case " << i;
    EXPECT_LT(MaxAbsDiff(collectors[i]->last_logits(), cases[i].last_logits),
              1e-4)
        << "case " << i;
  }
  return collectors;
}

class EngineFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineFixtureTest, ConcurrentMixedAdaptersMatchReference) {
  const auto cases = LoadFixtureCases(GetParam());
  auto engine = MakeEngine(FixtureOptions(GetParam()));
  RegisterFixtureAdapters(*engine, GetParam(), cases);
  const std::vector<std::unique_ptr<Collector>> collectors =
      RunAllAndExpectReference(*engine, cases);
  for (size_t i = 0; i < collectors.size(); ++i) {
    EXPECT_EQ(collectors[i]->final_event().finish_reason,
              FinishReason::kLength);
    EXPECT_EQ(collectors[i]->num_finished_events(), 1);
  }
}

TEST_P(EngineFixtureTest, OneAtATimeMatchesReference) {
  const auto cases = LoadFixtureCases(GetParam());
  auto engine = MakeEngine(FixtureOptions(GetParam()));
  RegisterFixtureAdapters(*engine, GetParam(), cases);
  for (const FixtureCase& c : cases) {
    Collector collector;
    ASSERT_TRUE(engine->Submit(GreedyRequest(c), collector.Callback()).ok());
    collector.Wait();
    EXPECT_EQ(collector.tokens(), c.greedy_ids) << "adapter " << c.adapter;
    EXPECT_LT(MaxAbsDiff(collector.last_logits(), c.last_logits), 1e-4);
  }
}

TEST_P(EngineFixtureTest, SmallPrefillBudgetAndOneDeviceSlotStillMatch) {
  const auto cases = LoadFixtureCases(GetParam());
  EngineOptions options = FixtureOptions(GetParam());
  options.max_prefill_tokens = 4;  // Prompts are prefilled in chunks.
  // Device memory for one adapter of rank 16 (16 rank rows): all-r16 takes
  // turns with the others ...
  options.max_resident_adapters = 1;
  options.max_lora_rank = 16;
  options.max_host_adapters = 1;  // ... and they are re-read from disk.
  auto engine = MakeEngine(options);
  RegisterFixtureAdapters(*engine, GetParam(), cases);
  RunAllAndExpectReference(*engine, cases);
  const EngineStats stats = engine->Stats();
  EXPECT_LE(stats.resident_adapters_device, 2);  // qv-r8 with attn-r4.
  EXPECT_GT(stats.adapter_misses, 0);
}

// Note [Paged KV cache] (runtime/kv_cache.h): a cache with room for one
// max_seq_len sequence serves every case, a few at a time as their
// reservations fit, with the reference outputs, and ends with every block
// back in the pool.
TEST_P(EngineFixtureTest, ASmallKvCacheServesEveryCaseAndReturnsItsBlocks) {
  const auto cases = LoadFixtureCases(GetParam());
  EngineOptions options = FixtureOptions(GetParam());
  options.max_seq_len = 64;
  options.kv_cache_tokens = 64;
  auto engine = MakeEngine(options);
  RegisterFixtureAdapters(*engine, GetParam(), cases);
  EXPECT_EQ(engine->Stats().kv_tokens_capacity, 64);
  RunAllAndExpectReference(*engine, cases);
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.kv_tokens_in_use, 0);
  EXPECT_EQ(stats.kv_tokens_reserved, 0);
  EXPECT_EQ(stats.kv_slots_in_use, 0);
}

// Note [KV waiter] (runtime/engine_step.cc): with room in the KV cache for
// one short request beside a running one but not for a long one, the long
// request waits, and the short ones queued after it wait behind it instead
// of taking the room first (which, repeated, would starve it).
TEST(KvAdmissionTest, ShortRequestsDoNotOvertakeALongOneWaitingForKv) {
  const auto cases = LoadFixtureCases("llama-gqa");
  const FixtureCase& short_case = FindCase(cases, "", 7);
  const FixtureCase& long_case = FindCase(cases, "", 23);
  RecordingHooks hooks;
  EngineInternalOptions internal;
  internal.hooks = &hooks;
  EngineOptions options = FixtureOptions("llama-gqa");
  options.max_batch_size = 8;
  options.max_seq_len = 64;
  options.kv_cache_tokens = 64;  // Four blocks of 16 tokens.
  hooks.HoldLoop();              // All are queued before the first admission.
  auto engine = MakeEngine(options, nullptr, internal);
  absl::Cleanup release_loop = [&hooks] { hooks.ReleaseLoop(); };

  absl::Mutex mu;
  std::vector<std::string> started;  // Names, in order of first event.
  std::vector<std::unique_ptr<Collector>> collectors;
  auto submit = [&](const std::string& name, const FixtureCase& c,
                    int32_t max_new_tokens) {
    GenerationRequest r = GreedyRequest(c);
    r.stopping.max_new_tokens = max_new_tokens;
    r.stopping.ignore_eos = true;
    collectors.push_back(std::make_unique<Collector>());
    GenerationCallback inner = collectors.back()->Callback();
    auto seen = std::make_shared<bool>(false);
    ASSERT_TRUE(engine
                    ->Submit(r,
                             [&mu, &started, name, inner,
                              seen](const GenerationEvent& e) {
                               {
                                 absl::MutexLock lock(&mu);
                                 if (!*seen) started.push_back(name);
                                 *seen = true;
                               }
                               inner(e);
                             })
                    .ok());
  };
  submit("first", short_case, 9);  // 7 + 9 = 16 tokens: one block.
  submit("long", long_case, 41);   // 23 + 41 = 64 tokens: all four.
  for (const char* name : {"short1", "short2", "short3"}) {
    submit(name, short_case, 9);  // One block each: three would fit.
  }
  hooks.ReleaseLoop();
  for (auto& collector : collectors) {
    collector->Wait();
    EXPECT_EQ(collector->final_event().finish_reason, FinishReason::kLength);
  }
  absl::MutexLock lock(&mu);
  ASSERT_EQ(started.size(), 5u);
  EXPECT_EQ(started[0], "first");
  EXPECT_EQ(started[1], "long");
  EXPECT_EQ(engine->Stats().kv_tokens_reserved, 0);
}

// Note [Rank rows] (runtime/lora_bank.h): device memory per adapter is
// proportional to its rank, so four rank-4 adapters live in the room of one
// rank-16 adapter, serve in one batch with the reference outputs, and make
// way together for a rank-16 one.
TEST(RankAwareCacheTest, LowRankAdaptersShareTheRoomOfOneMaxRankAdapter) {
  const std::string model = "llama-gqa";
  const auto cases = LoadFixtureCases(model);
  const FixtureCase& c = FindCase(cases, "attn-r4-rslora", 7);
  EngineOptions options = FixtureOptions(model);
  options.max_resident_adapters = 1;
  options.max_lora_rank = 16;
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back("rank4-" + std::to_string(i));
    ASSERT_TRUE(
        engine->RegisterAdapter(ids.back(), FixtureAdapterDir(model, c.adapter))
            .ok());
    ASSERT_TRUE(engine->LoadAdapter(ids.back()).ok()) << ids.back();
  }
  EXPECT_EQ(engine->Stats().resident_adapters_device, 4);
  EXPECT_EQ(engine->Stats().adapter_evictions, 0);
  EXPECT_EQ(engine->Stats().lora_rank_rows_in_use, 16);
  EXPECT_EQ(engine->Stats().lora_rank_rows_capacity, 16);
  std::vector<std::unique_ptr<Collector>> collectors;
  for (const std::string& id : ids) {
    GenerationRequest r = GreedyRequest(c);
    r.adapter_id = id;
    collectors.push_back(std::make_unique<Collector>());
    ASSERT_TRUE(engine->Submit(r, collectors.back()->Callback()).ok());
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    collectors[i]->Wait();
    EXPECT_EQ(collectors[i]->tokens(), c.greedy_ids) << ids[i];
    EXPECT_LT(MaxAbsDiff(collectors[i]->last_logits(), c.last_logits), 1e-4)
        << ids[i];
  }
  EXPECT_EQ(engine->Stats().adapter_evictions, 0);
  ASSERT_TRUE(
      engine->RegisterAdapter("all-r16", FixtureAdapterDir(model, "all-r16"))
          .ok());
  ASSERT_TRUE(engine->LoadAdapter("all-r16").ok());
  EXPECT_EQ(engine->Stats().resident_adapters_device, 1);
  EXPECT_EQ(engine->Stats().adapter_evictions, 4);
  EXPECT_EQ(engine->Stats().lora_rank_rows_in_use, 16);
  ASSERT_TRUE(engine->EvictAdapter("all-r16").ok());
  EXPECT_EQ(engine->Stats().lora_rank_rows_in_use, 0);
}

INSTANTIATE_TEST_SUITE_P(HfDev, EngineFixtureTest,
                         ::testing::Values("llama-gqa", "qwen2-bias"));

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = LoadFixtureCases("llama-gqa");
    engine_ = MakeEngine(FixtureOptions("llama-gqa"));
    RegisterFixtureAdapters(*engine_, "llama-gqa", cases_);
  }
  const FixtureCase& Case(const std::string& adapter, size_t prompt_len) {
    for (const FixtureCase& c : cases_) {
      if (c.adapter == adapter && c.prompt_ids.size() == prompt_len) return c;
    }
    ADD_FAILURE() << "no case " << adapter << "/" << prompt_len;
    return cases_[0];
  }
  std::vector<FixtureCase> cases_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, StopsAtEosUnlessIgnored) {
  // The reference's all-r16 7-token case emits EOS (id 2) as its third token.
  const FixtureCase& c = Case("all-r16", 7);
  ASSERT_EQ(c.greedy_ids[2], 2);
  GenerationRequest r = GreedyRequest(c);
  r.stopping.ignore_eos = false;
  Collector collector;
  ASSERT_TRUE(engine_->Submit(r, collector.Callback()).ok());
  collector.Wait();
  EXPECT_EQ(collector.tokens(), std::vector<int32_t>(c.greedy_ids.begin(),
                                                     c.greedy_ids.begin() + 3));
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kEos);
  EXPECT_EQ(collector.final_event().usage.completion_tokens, 3);
  EXPECT_EQ(collector.final_event().usage.prompt_tokens, 7);
}

TEST_F(EngineTest, StopTokenIdsEndGeneration) {
  const FixtureCase& c = Case("", 7);
  GenerationRequest r = GreedyRequest(c);
  r.stopping.stop_token_ids = {c.greedy_ids[4]};
  Collector collector;
  ASSERT_TRUE(engine_->Submit(r, collector.Callback()).ok());
  collector.Wait();
  const auto first =
      std::find(c.greedy_ids.begin(), c.greedy_ids.end(), c.greedy_ids[4]);
  EXPECT_EQ(collector.tokens(),
            std::vector<int32_t>(c.greedy_ids.begin(), first + 1));
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kStop);
}

TEST_F(EngineTest, MaxNewTokensGivesLength) {
  GenerationRequest r = GreedyRequest(Case("qv-r8", 23));
  r.stopping.max_new_tokens = 5;
  Collector collector;
  ASSERT_TRUE(engine_->Submit(r, collector.Callback()).ok());
  collector.Wait();
  EXPECT_EQ(collector.tokens().size(), 5u);
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kLength);
}

TEST_F(EngineTest, KvCapacityEndsGenerationWithLength) {
  EngineOptions options = FixtureOptions("llama-gqa");
  options.max_seq_len = 30;
  auto engine = MakeEngine(options);
  GenerationRequest r = GreedyRequest(Case("", 23));
  r.stopping.max_new_tokens = 100;
  Collector collector;
  ASSERT_TRUE(engine->Submit(r, collector.Callback()).ok());
  collector.Wait();
  EXPECT_EQ(collector.tokens().size(), 30u - 23u);
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kLength);
}

TEST(EngineCreateTest, AKvCacheSmallerThanOneSequenceIsRefused) {
  EngineOptions options = FixtureOptions("llama-gqa");
  options.max_seq_len = 64;
  options.kv_cache_tokens = 63;
  const auto engine = Engine::Create(options);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("kv_cache_tokens 63"));
}

TEST_F(EngineTest, RejectsBadRequests) {
  GenerationRequest base = GreedyRequest(Case("", 7));
  auto submit = [&](GenerationRequest r) {
    return engine_->Submit(std::move(r), [](const GenerationEvent&) {})
        .status();
  };
  GenerationRequest r = base;
  r.adapter_id = "nope";
  EXPECT_EQ(submit(r).code(), absl::StatusCode::kNotFound);
  r = base;
  r.prompt_ids.clear();
  EXPECT_EQ(submit(r).code(), absl::StatusCode::kInvalidArgument);
  r = base;
  r.prompt_ids = {1, 512};
  EXPECT_THAT(submit(r).message(), HasSubstr("outside the vocabulary"));
  r = base;
  r.prompt_ids = {-1};
  EXPECT_EQ(submit(r).code(), absl::StatusCode::kInvalidArgument);
  r = base;
  r.prompt_ids.assign(128, 5);
  EXPECT_THAT(submit(r).message(), HasSubstr("max_seq_len"));
  r = base;
  r.sampling.top_p = 0;
  EXPECT_EQ(submit(r).code(), absl::StatusCode::kInvalidArgument);
  r = base;
  r.sampling.temperature = -1;
  EXPECT_EQ(submit(r).code(), absl::StatusCode::kInvalidArgument);
  r = base;
  r.stopping.max_new_tokens = 0;
  EXPECT_EQ(submit(r).code(), absl::StatusCode::kInvalidArgument);
  r = base;
  r.prompt_ids.clear();
  r.prompt_text = "hello";
  EXPECT_THAT(submit(r).message(), HasSubstr("no tokenizer"));
  r = base;
  r.stopping.stop_strings = {"x"};
  EXPECT_THAT(submit(r).message(), HasSubstr("tokenizer"));
}

TEST_F(EngineTest, CancelEndsARunningRequest) {
  GenerationRequest r = GreedyRequest(Case("qv-r8", 7));
  r.stopping.max_new_tokens = 110;
  Collector collector;
  // Cancelled at its first token, from the loop thread: certainly running.
  auto id = engine_->Submit(
      r, WithFirstEvent(collector, [this](const GenerationEvent& event) {
        engine_->Cancel(event.request_id);
      }));
  ASSERT_TRUE(id.ok());
  collector.Wait();
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kCancelled);
  EXPECT_LT(collector.tokens().size(), 110u);
  engine_->Cancel(*id);  // Finished ids are ignored.
  engine_->Cancel(987654);
  // Its KV slot is free again by the time its last event is delivered.
  EXPECT_EQ(engine_->Stats().kv_slots_in_use, 0);
}

TEST_F(EngineTest, QueueLimitGivesResourceExhausted) {
  EngineOptions options = FixtureOptions("llama-gqa");
  options.max_batch_size = 1;
  options.max_queued_requests = 2;
  auto engine = MakeEngine(options);
  GenerationRequest long_request = GreedyRequest(Case("", 1));
  long_request.stopping.max_new_tokens = 120;
  Collector running, a, b;
  std::vector<absl::Status> statuses;  // Written by the loop thread.
  absl::Notification submitted;
  // While `running` holds the only KV slot (its first token, on the loop
  // thread), two requests queue and a third finds the queue full.
  ASSERT_TRUE(
      engine
          ->Submit(
              long_request,
              WithFirstEvent(running,
                             [&](const GenerationEvent&) {
                               auto submit = [&](GenerationCallback callback) {
                                 statuses.push_back(
                                     engine
                                         ->Submit(GreedyRequest(Case("", 7)),
                                                  std::move(callback))
                                         .status());
                               };
                               submit(a.Callback());
                               submit(b.Callback());
                               submit([](const GenerationEvent&) {});
                               submitted.Notify();
                             }))
          .ok());
  submitted.WaitForNotification();
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_TRUE(statuses[1].ok()) << statuses[1];
  EXPECT_EQ(statuses[2].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(statuses[2].message(), HasSubstr("retry"));
  running.Wait();
  a.Wait();
  b.Wait();
  EXPECT_EQ(a.tokens(), Case("", 7).greedy_ids);
}

TEST_F(EngineTest, TenantsAreAdmittedRoundRobin) {
  EngineOptions options = FixtureOptions("llama-gqa");
  options.max_batch_size = 1;
  auto engine = MakeEngine(options);
  absl::Mutex mu;
  std::vector<std::string> finish_order;
  GenerationRequest blocker = GreedyRequest(Case("", 1));
  blocker.stopping.max_new_tokens = 40;
  blocker.tenant = "a";
  auto submit = [&](const std::string& tenant) {
    GenerationRequest r = GreedyRequest(Case("", 7));
    r.stopping.max_new_tokens = 2;
    r.tenant = tenant;
    EXPECT_TRUE(
        engine
            ->Submit(r,
                     [&mu, &finish_order, tenant](const GenerationEvent& e) {
                       if (!e.finished) return;
                       absl::MutexLock lock(&mu);
                       finish_order.push_back(tenant);
                     })
            .ok());
  };
  // a's burst, then b, all queued behind the blocker (submitted at its
  // first token, on the loop thread).
  Collector first;
  ASSERT_TRUE(engine
                  ->Submit(blocker, WithFirstEvent(first,
                                                   [&](const GenerationEvent&) {
                                                     for (int i = 0; i < 4; ++i)
                                                       submit("a");
                                                     submit("b");
                                                   }))
                  .ok());
  first.Wait();
  engine->Shutdown(absl::Seconds(30));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(finish_order.size(), 5u);
  // b arrived last but is served within the first two slots, not after a's
  // whole burst.
  const auto b_pos = std::find(finish_order.begin(), finish_order.end(), "b") -
                     finish_order.begin();
  EXPECT_LE(b_pos, 1);
}

TEST_F(EngineTest, SeededSamplingIsIndependentOfBatchComposition) {
  GenerationRequest r = GreedyRequest(Case("all-r16", 23));
  r.sampling.temperature = 1.3f;
  r.sampling.top_p = 0.9f;
  r.sampling.top_k = 50;
  r.sampling.seed = 1234;
  Collector alone;
  ASSERT_TRUE(engine_->Submit(r, alone.Callback()).ok());
  alone.Wait();
  std::vector<std::unique_ptr<Collector>> others;
  Collector together;
  for (const FixtureCase& c : cases_) {
    others.push_back(std::make_unique<Collector>());
    GenerationRequest o = GreedyRequest(c);
    o.sampling.temperature = 0.7f;
    o.sampling.seed = 99;
    ASSERT_TRUE(engine_->Submit(o, others.back()->Callback()).ok());
  }
  ASSERT_TRUE(engine_->Submit(r, together.Callback()).ok());
  together.Wait();
  EXPECT_EQ(alone.tokens(), together.tokens());
  r.sampling.seed = 4321;
  Collector other_seed;
  ASSERT_TRUE(engine_->Submit(r, other_seed.Callback()).ok());
  other_seed.Wait();
  EXPECT_NE(alone.tokens(), other_seed.tokens());
  for (auto& o : others) o->Wait();
}

TEST_F(EngineTest, UnregisterLetsRunningRequestsFinish) {
  const FixtureCase& c = Case("attn-r4-rslora", 23);
  GenerationRequest r = GreedyRequest(c);
  Collector collector;
  absl::Status unregistered = absl::UnknownError("not called");
  // Unregistered at its first token, from the loop thread: still running.
  ASSERT_TRUE(engine_
                  ->Submit(r, WithFirstEvent(collector,
                                             [&](const GenerationEvent&) {
                                               unregistered =
                                                   engine_->UnregisterAdapter(
                                                       "attn-r4-rslora");
                                             }))
                  .ok());
  collector.Wait();
  ASSERT_TRUE(unregistered.ok()) << unregistered;
  EXPECT_EQ(collector.tokens(), c.greedy_ids);
  EXPECT_EQ(engine_->Submit(r, [](const GenerationEvent&) {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->UnregisterAdapter("attn-r4-rslora").code(),
            absl::StatusCode::kNotFound);
  // The id can be registered again (a new upload under the same name).
  ASSERT_TRUE(
      engine_
          ->RegisterAdapter("attn-r4-rslora",
                            FixtureAdapterDir("llama-gqa", "attn-r4-rslora"))
          .ok());
  Collector again;
  ASSERT_TRUE(engine_->Submit(r, again.Callback()).ok());
  again.Wait();
  EXPECT_EQ(again.tokens(), c.greedy_ids);
}

TEST_F(EngineTest, LoadAndEvictAdapter) {
  EXPECT_EQ(engine_->Stats().resident_adapters_device, 0);
  ASSERT_TRUE(engine_->LoadAdapter("qv-r8").ok());
  EXPECT_EQ(engine_->Stats().resident_adapters_device, 1);
  EXPECT_EQ(engine_->Stats().resident_adapters_host, 1);
  ASSERT_TRUE(engine_->LoadAdapter("qv-r8").ok());  // Already resident.
  EXPECT_EQ(engine_->Stats().resident_adapters_device, 1);
  ASSERT_TRUE(engine_->EvictAdapter("qv-r8").ok());
  EXPECT_EQ(engine_->Stats().resident_adapters_device, 0);
  EXPECT_EQ(engine_->LoadAdapter("missing").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, InvalidAdapterFailsItsRequestsOnly) {
  // A Qwen2 adapter does not fit the Llama fixture's shapes.
  ASSERT_TRUE(
      engine_
          ->RegisterAdapter("wrong", FixtureAdapterDir("qwen2-bias", "all-r8"))
          .ok());
  absl::Status load = engine_->LoadAdapter("wrong");
  EXPECT_EQ(load.code(), absl::StatusCode::kInvalidArgument) << load;
  GenerationRequest bad = GreedyRequest(Case("", 7));
  bad.adapter_id = "wrong";
  Collector bad_collector, good_collector;
  ASSERT_TRUE(engine_->Submit(bad, bad_collector.Callback()).ok());
  ASSERT_TRUE(
      engine_
          ->Submit(GreedyRequest(Case("qv-r8", 7)), good_collector.Callback())
          .ok());
  bad_collector.Wait();
  good_collector.Wait();
  EXPECT_EQ(bad_collector.final_event().finish_reason, FinishReason::kError);
  EXPECT_EQ(bad_collector.final_event().error.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(good_collector.tokens(), Case("qv-r8", 7).greedy_ids);
  EXPECT_EQ(engine_->ValidateAdapter(FixtureAdapterDir("qwen2-bias", "all-r8"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  auto summary =
      engine_->ValidateAdapter(FixtureAdapterDir("llama-gqa", "all-r16"));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->max_rank, 16);
}

TEST_F(EngineTest, ShutdownCancelsWhatDoesNotFinishInTime) {
  GenerationRequest r = GreedyRequest(Case("", 1));
  r.stopping.max_new_tokens = 120;
  Collector collector;
  ASSERT_TRUE(engine_->Submit(r, collector.Callback()).ok());
  engine_->Shutdown(absl::ZeroDuration());
  ASSERT_TRUE(collector.WaitFor(absl::Seconds(10)));
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(engine_->Submit(r, [](const GenerationEvent&) {}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(EngineTest, ShutdownWithGraceLetsWorkFinish) {
  GenerationRequest r = GreedyRequest(Case("qv-r8", 7));
  Collector collector;
  ASSERT_TRUE(engine_->Submit(r, collector.Callback()).ok());
  engine_->Shutdown(absl::Seconds(60));
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kLength);
  EXPECT_EQ(collector.tokens(), Case("qv-r8", 7).greedy_ids);
}

TEST(EngineCreateTest, ReportsBadOptionsAndModels) {
  EngineOptions options = FixtureOptions("llama-gqa");
  options.device = "tpu";
  EXPECT_THAT(Engine::Create(options).status().message(),
              HasSubstr("unknown device"));
  options = FixtureOptions("llama-gqa");
  options.dtype = "float16";
  options.device = "cpu";
  EXPECT_THAT(Engine::Create(options).status().message(), HasSubstr("float16"));
  options = FixtureOptions("llama-gqa");
  options.max_seq_len = 100000;
  EXPECT_THAT(Engine::Create(options).status().message(),
              HasSubstr("max_position_embeddings"));
  options = FixtureOptions("llama-gqa");
  options.max_batch_size = 0;
  EXPECT_EQ(Engine::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = FixtureOptions("llama-gqa");
  options.model_dir = "/nonexistent";
  EXPECT_EQ(Engine::Create(options).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EngineCreateTest, Bfloat16RunsAndStaysCloseToFloat32) {
  EngineOptions options = FixtureOptions("llama-gqa");
  options.dtype = "bfloat16";
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->model_info().dtype, "bfloat16");
  const auto cases = LoadFixtureCases("llama-gqa");
  Collector collector;
  ASSERT_TRUE(
      engine->Submit(GreedyRequest(cases[1]), collector.Callback()).ok());
  collector.Wait();
  EXPECT_LT(MaxAbsDiff(collector.last_logits(), cases[1].last_logits), 0.1);
}

}  // namespace
}  // namespace loraplex::engine
