// The engine under faults: an adapter whose weights overflow fails its own
// requests and changes no other request's output (Note [Row isolation]),
// device errors in the loop fail only the requests involved (Note [Loop
// exception safety]), the LoRA bank's memory is taken at Create, and a full
// queue refuses a request before tokenizing it.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "engine/runtime/engine_impl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/engine_test_util.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/runtime/recording_hooks.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::CopyDirectory;
using ::loraplex::testing::ReadFile;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using testing::Before;
using testing::Collector;
using testing::FindCase;
using testing::FixtureAdapterDir;
using testing::FixtureCase;
using testing::FixtureModelDir;
using testing::FixtureOptions;
using testing::GreedyRequest;
using ::testing::HasSubstr;
using testing::LoadFixtureCases;
using testing::MaxAbsDiff;
using testing::RecordingHooks;
using testing::RegisterFixtureAdapters;
using testing::WithFirstEvent;

constexpr char kModel[] = "llama-gqa";
constexpr float kLogitTolerance = 1e-4f;

std::unique_ptr<Engine> MakeEngine(const EngineOptions& options,
                                   const EngineInternalOptions& internal) {
  auto engine = EngineImpl::Create(options, nullptr, internal);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

void ExpectMatchesReference(Collector& collector, const FixtureCase& c,
                            const std::string& what) {
  EXPECT_EQ(collector.final_event().finish_reason, FinishReason::kLength)
      << what << ": " << collector.final_event().error;
  EXPECT_EQ(collector.tokens(), c.greedy_ids) << what;
  EXPECT_LT(MaxAbsDiff(collector.last_logits(), c.last_logits), kLogitTolerance)
      << what;
}

void ExpectNotFiniteError(Collector& collector) {
  const GenerationEvent final_event = collector.final_event();
  EXPECT_EQ(final_event.finish_reason, FinishReason::kError);
  EXPECT_EQ(final_event.error.code(), absl::StatusCode::kFailedPrecondition)
      << final_event.error;
  EXPECT_THAT(final_event.error.message(), HasSubstr("not finite"));
}

class PoisonedAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = LoadFixtureCases(kModel);
    // all-r16 with lora_alpha 1e300: its scale is Inf in float32, so its
    // rows' activations (and the K/V they write) are Inf/NaN.
    const std::string dir = tmp_.Join("poisoned");
    CopyDirectory(FixtureAdapterDir(kModel, "all-r16"), dir);
    const std::string config = ReadFile(dir + "/adapter_config.json");
    const std::string poisoned = absl::StrReplaceAll(
        config, {{"\"lora_alpha\": 32", "\"lora_alpha\": 1e300"}});
    ASSERT_NE(config, poisoned);
    WriteFile(dir + "/adapter_config.json", poisoned);
    // Upload validation refuses such adapters; this engine must cope with
    // one that got through anyway.
    LoraValidationOptions trusting;
    trusting.max_rank = 64;
    trusting.check_finite = false;
    internal_.adapter_validation = trusting;
  }

  void Start(const EngineOptions& options) {
    engine_ = MakeEngine(options, internal_);
    ASSERT_NE(engine_, nullptr);
    RegisterFixtureAdapters(*engine_, kModel, cases_);
    ASSERT_TRUE(
        engine_->RegisterAdapter("poisoned", tmp_.Join("poisoned")).ok());
  }

  GenerationRequest PoisonedRequest(const FixtureCase& c) {
    GenerationRequest r = GreedyRequest(c);
    r.adapter_id = "poisoned";
    return r;
  }

  TempDir tmp_;
  std::vector<FixtureCase> cases_;
  EngineInternalOptions internal_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(PoisonedAdapterTest,
       ItsRequestsFailAndTheirBatchmatesMatchTheReference) {
  Start(FixtureOptions(kModel));
  const FixtureCase& a = FindCase(cases_, "qv-r8", 7);
  const FixtureCase& b = FindCase(cases_, "all-r16", 23);
  const FixtureCase& c = FindCase(cases_, "", 1);
  Collector clean_a, clean_b, clean_c, bad_1, bad_7;
  ASSERT_TRUE(engine_->Submit(GreedyRequest(a), clean_a.Callback()).ok());
  ASSERT_TRUE(engine_
                  ->Submit(PoisonedRequest(FindCase(cases_, "all-r16", 1)),
                           bad_1.Callback())
                  .ok());
  ASSERT_TRUE(engine_->Submit(GreedyRequest(b), clean_b.Callback()).ok());
  ASSERT_TRUE(engine_
                  ->Submit(PoisonedRequest(FindCase(cases_, "all-r16", 7)),
                           bad_7.Callback())
                  .ok());
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), clean_c.Callback()).ok());
  for (Collector* collector : {&clean_a, &clean_b, &clean_c, &bad_1, &bad_7}) {
    collector->Wait();
  }
  ExpectMatchesReference(clean_a, a, "qv-r8");
  ExpectMatchesReference(clean_b, b, "all-r16");
  ExpectMatchesReference(clean_c, c, "base");
  ExpectNotFiniteError(bad_1);
  ExpectNotFiniteError(bad_7);
  EXPECT_THAT(bad_7.final_event().error.message(), HasSubstr("adapter"));
  EXPECT_TRUE(bad_7.tokens().empty());  // Nothing was sampled from NaN.
}

TEST_F(PoisonedAdapterTest, ACleanRequestInTheSlotItLeftMatchesTheReference) {
  EngineOptions options = FixtureOptions(kModel);
  options.max_batch_size = 2;  // KV slots 0 and 1.
  Start(options);
  // `keeper` holds slot 0 and keeps the batch long. The poisoned request
  // gets slot 1 and fails at its first step, leaving Inf/NaN there; a clean
  // short request then takes slot 1 while `keeper` runs, so each of its
  // steps reads positions of slot 1 past its own length. Submissions are
  // made from the callbacks (the loop thread), so the order is exact.
  const FixtureCase& keeper_case = FindCase(cases_, "", 23);
  const FixtureCase& clean_case = FindCase(cases_, "qv-r8", 1);
  GenerationRequest keeper_request = GreedyRequest(keeper_case);
  keeper_request.stopping.max_new_tokens = 100;
  Collector keeper, bad, clean;
  absl::Mutex mu;
  absl::Status bad_submit = absl::UnknownError("not submitted");
  absl::Status clean_submit = absl::UnknownError("not submitted");
  GenerationCallback on_bad = Before(bad, [&](const GenerationEvent& event) {
    if (!event.finished) return;
    const absl::Status s =
        engine_->Submit(GreedyRequest(clean_case), clean.Callback()).status();
    absl::MutexLock lock(&mu);
    clean_submit = s;
  });
  GenerationCallback on_keeper =
      WithFirstEvent(keeper, [&](const GenerationEvent&) {
        const absl::Status s =
            engine_
                ->Submit(PoisonedRequest(FindCase(cases_, "all-r16", 7)),
                         on_bad)
                .status();
        absl::MutexLock lock(&mu);
        bad_submit = s;
      });
  const auto keeper_id = engine_->Submit(keeper_request, on_keeper);
  ASSERT_TRUE(keeper_id.ok());
  bad.Wait();
  ExpectNotFiniteError(bad);
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(bad_submit.ok()) << bad_submit;
    ASSERT_TRUE(clean_submit.ok()) << clean_submit;
  }
  clean.Wait();
  EXPECT_FALSE(keeper.finished());  // It overlapped the clean request.
  ExpectMatchesReference(clean, clean_case, "request in the poisoned slot");
  keeper.Wait();
  EXPECT_EQ(keeper.final_event().finish_reason, FinishReason::kLength);
  const std::vector<int32_t> keeper_tokens = keeper.tokens();
  ASSERT_GE(keeper_tokens.size(), keeper_case.greedy_ids.size());
  EXPECT_EQ(std::vector<int32_t>(
                keeper_tokens.begin(),
                keeper_tokens.begin() + keeper_case.greedy_ids.size()),
            keeper_case.greedy_ids);
}

class LoopFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = LoadFixtureCases(kModel);
    internal_.hooks = &hooks_;
    engine_ = MakeEngine(FixtureOptions(kModel), internal_);
    ASSERT_NE(engine_, nullptr);
    RegisterFixtureAdapters(*engine_, kModel, cases_);
  }

  RecordingHooks hooks_;
  std::vector<FixtureCase> cases_;
  EngineInternalOptions internal_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(LoopFaultTest, AForwardStepErrorFailsItsRequestAndTheNextSucceeds) {
  const FixtureCase& c = FindCase(cases_, "all-r16", 7);
  hooks_.FailNext(EngineHookPoint::kForwardStep);
  Collector failed, next;
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), failed.Callback()).ok());
  failed.Wait();
  EXPECT_EQ(failed.final_event().finish_reason, FinishReason::kError);
  EXPECT_EQ(failed.final_event().error.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(failed.final_event().error.message(),
              HasSubstr("injected device error"));
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), next.Callback()).ok());
  next.Wait();
  ExpectMatchesReference(next, c, "after the failed step");
}

TEST_F(LoopFaultTest, AnAdapterCopyErrorFailsItsRequestAndTheNextSucceeds) {
  const FixtureCase& c = FindCase(cases_, "qv-r8", 7);
  hooks_.FailNext(EngineHookPoint::kAdapterDeviceCopy);
  Collector failed, next;
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), failed.Callback()).ok());
  failed.Wait();
  EXPECT_EQ(failed.final_event().finish_reason, FinishReason::kError);
  EXPECT_EQ(failed.final_event().error.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(failed.final_event().error.message(),
              HasSubstr("copying the adapter to the device"));
  EXPECT_EQ(engine_->Stats().resident_adapters_device, 0);
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), next.Callback()).ok());
  next.Wait();
  ExpectMatchesReference(next, c, "after the failed copy");
  EXPECT_EQ(engine_->Stats().resident_adapters_device, 1);
}

TEST_F(LoopFaultTest, AnErrorEscapingAnIterationFailsTheRunningRequestsOnly) {
  EngineOptions options = FixtureOptions(kModel);
  options.max_batch_size = 1;  // `queued` waits behind `running`.
  engine_ = MakeEngine(options, internal_);
  ASSERT_NE(engine_, nullptr);
  const FixtureCase& c = FindCase(cases_, "", 7);
  GenerationRequest long_request = GreedyRequest(c);
  long_request.stopping.max_new_tokens = 100;
  Collector running, queued, next;
  // The first token arms a fault for the next iteration (set on the loop
  // thread, so `running` is certainly still running then).
  GenerationCallback on_running =
      WithFirstEvent(running, [this](const GenerationEvent&) {
        hooks_.FailNext(EngineHookPoint::kLoopIteration);
      });
  ASSERT_TRUE(engine_->Submit(long_request, on_running).ok());
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), queued.Callback()).ok());
  running.Wait();
  EXPECT_EQ(running.final_event().finish_reason, FinishReason::kError);
  EXPECT_EQ(running.final_event().error.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(running.final_event().error.message(),
              HasSubstr("internal engine error"));
  queued.Wait();
  ExpectMatchesReference(queued, c, "queued during the fault");
  ASSERT_TRUE(engine_->Submit(GreedyRequest(c), next.Callback()).ok());
  next.Wait();
  ExpectMatchesReference(next, c, "after the fault");
  EXPECT_EQ(engine_->Stats().queued_requests, 0);
}

TEST(EngineMemoryTest, TheLoraBankIsAllocatedByCreate) {
  // A bank of 4096 slots x rank 2^31 - 1 cannot be allocated (petabytes):
  // Create must say so instead of failing the first adapter request.
  EngineOptions options = FixtureOptions(kModel);
  options.max_resident_adapters = 4096;
  options.max_lora_rank = 2147483647;
  auto engine = Engine::Create(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("creating the engine"));
}

TEST(AdmissionTest, AFullQueueRefusesARequestBeforeTokenizingIt) {
  // The fixture model with a tokenizer, so prompts may be text.
  TempDir tmp;
  const std::string model_dir = tmp.Join("model");
  CopyDirectory(FixtureModelDir(kModel), model_dir);
  WriteFile(model_dir + "/tokenizer.json",
            ReadFile(std::string(LORAPLEX_TEST_DATA_DIR) +
                     "/fixtures/tokenizers/bytelevel-gpt2/tokenizer.json"));
  RecordingHooks hooks;
  EngineInternalOptions internal;
  internal.hooks = &hooks;
  EngineOptions options = FixtureOptions(kModel);
  options.model_dir = model_dir;
  options.max_batch_size = 1;
  options.max_queued_requests = 2;
  options.max_queued_per_tenant = 1;
  auto engine = MakeEngine(options, internal);
  ASSERT_NE(engine, nullptr);
  const auto cases = LoadFixtureCases(kModel);

  auto text_request = [](const std::string& tenant) {
    GenerationRequest r;
    r.prompt_text = "a";
    r.tenant = tenant;
    r.stopping.max_new_tokens = 1;
    return r;
  };
  GenerationRequest blocker = GreedyRequest(FindCase(cases, "", 1));
  blocker.stopping.max_new_tokens = 100;
  blocker.tenant = "a";
  GenerationRequest queued = GreedyRequest(FindCase(cases, "", 7));
  queued.tenant = "a";
  struct Outcome {
    absl::Status status;
    int tokenized = 0;  // Prompts tokenized so far.
  };
  std::vector<Outcome> outcomes;
  std::vector<std::unique_ptr<Collector>> accepted;
  absl::Notification submitted;
  Collector blocker_collector;
  // While the blocker runs (its first token, on the loop thread, so nothing
  // is admitted meanwhile): tenant a queues one request (its share), then
  // text prompts from a (share full), b (fits) and c (queue full).
  auto on_blocker =
      WithFirstEvent(blocker_collector, [&](const GenerationEvent&) {
        auto submit = [&](const GenerationRequest& r) {
          accepted.push_back(std::make_unique<Collector>());
          const absl::Status status =
              engine->Submit(r, accepted.back()->Callback()).status();
          if (!status.ok()) accepted.pop_back();
          outcomes.push_back(
              {status, hooks.reached(EngineHookPoint::kTokenizePrompt)});
        };
        submit(queued);
        submit(text_request("a"));
        submit(text_request("b"));
        submit(text_request("c"));
        submitted.Notify();
      });
  const auto blocker_id = engine->Submit(blocker, on_blocker);
  ASSERT_TRUE(blocker_id.ok());
  submitted.WaitForNotification();
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_TRUE(outcomes[0].status.ok()) << outcomes[0].status;
  EXPECT_EQ(outcomes[1].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(outcomes[1].tokenized, 0);  // Refused before tokenizing.
  EXPECT_TRUE(outcomes[2].status.ok()) << outcomes[2].status;
  EXPECT_EQ(outcomes[2].tokenized, 1);
  EXPECT_EQ(outcomes[3].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(outcomes[3].tokenized, 1);
  engine->Cancel(*blocker_id);
  for (auto& collector : accepted) collector->Wait();
  blocker_collector.Wait();
}

}  // namespace
}  // namespace loraplex::engine
