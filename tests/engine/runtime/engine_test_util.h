// Helpers for tests of the Engine API on the reference fixtures: an event
// collector, fixture engine options and greedy requests that reproduce the
// reference outputs.
#ifndef LORAPLEX_TESTS_ENGINE_RUNTIME_ENGINE_TEST_UTIL_H_
#define LORAPLEX_TESTS_ENGINE_RUNTIME_ENGINE_TEST_UTIL_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"

namespace loraplex::engine::testing {

// Collects one request's events; thread-safe.
class Collector {
 public:
  // After the final event's Notify the callback touches nothing of the
  // collector: the test may destroy it as soon as Wait() returns.
  GenerationCallback Callback() {
    return [this](const GenerationEvent& e) {
      {
        absl::MutexLock lock(&mu_);
        events_.push_back(e);
        tokens_.insert(tokens_.end(), e.token_ids.begin(), e.token_ids.end());
        text_ += e.text;
        if (!e.last_logits.empty()) last_logits_ = e.last_logits;
        if (e.finished) final_ = e;
      }
      if (e.finished) done_.Notify();
    };
  }
  void Wait() { done_.WaitForNotification(); }
  bool WaitFor(absl::Duration d) {
    return done_.WaitForNotificationWithTimeout(d);
  }
  bool finished() const { return done_.HasBeenNotified(); }
  bool HasEvents() {
    absl::MutexLock lock(&mu_);
    return !events_.empty();
  }
  std::vector<int32_t> tokens() {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }
  std::vector<float> last_logits() {
    absl::MutexLock lock(&mu_);
    return last_logits_;
  }
  GenerationEvent final_event() {
    absl::MutexLock lock(&mu_);
    return final_;
  }
  int num_finished_events() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& e : events_) n += e.finished ? 1 : 0;
    return n;
  }

 private:
  absl::Mutex mu_;
  std::vector<GenerationEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> tokens_ ABSL_GUARDED_BY(mu_);
  std::string text_ ABSL_GUARDED_BY(mu_);
  std::vector<float> last_logits_ ABSL_GUARDED_BY(mu_);
  GenerationEvent final_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
};

// `collector`'s callback, preceded on every event by `before(event)`. The
// collector is fed last, so once a test has seen the final event the engine
// no longer runs test code that may touch the test's (dying) locals.
inline GenerationCallback Before(
    Collector& collector, std::function<void(const GenerationEvent&)> before) {
  return [collect = collector.Callback(),
          before = std::move(before)](const GenerationEvent& event) {
    before(event);
    collect(event);
  };
}

// `collector`'s callback, preceded at the request's first event by
// `on_first_event`, on the engine loop thread: while it runs, the engine
// admits and steps nothing, so tests act at an exact point of a generation.
inline GenerationCallback WithFirstEvent(
    Collector& collector,
    std::function<void(const GenerationEvent&)> on_first_event) {
  auto fired = std::make_shared<bool>(false);  // Loop thread only.
  return Before(collector, [on_first_event = std::move(on_first_event),
                            fired](const GenerationEvent& event) {
    if (*fired) return;
    *fired = true;
    on_first_event(event);
  });
}

inline EngineOptions FixtureOptions(const std::string& model) {
  EngineOptions options;
  options.model_dir = FixtureModelDir(model);
  options.device = "cpu";
  options.max_seq_len = 128;
  options.num_threads = 1;
  return options;
}

inline std::unique_ptr<Engine> MakeEngine(const EngineOptions& options,
                                          EngineObserver* observer = nullptr) {
  auto engine = Engine::Create(options, observer);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

inline void RegisterFixtureAdapters(Engine& engine, const std::string& model,
                                    const std::vector<FixtureCase>& cases) {
  std::set<std::string> seen;
  for (const FixtureCase& c : cases) {
    if (c.adapter.empty() || !seen.insert(c.adapter).second) continue;
    ASSERT_TRUE(
        engine.RegisterAdapter(c.adapter, FixtureAdapterDir(model, c.adapter))
            .ok());
  }
}

inline GenerationRequest GreedyRequest(const FixtureCase& c) {
  GenerationRequest r;
  r.adapter_id = c.adapter;
  r.prompt_ids = c.prompt_ids;
  r.stopping.max_new_tokens = static_cast<int32_t>(c.greedy_ids.size());
  r.stopping.ignore_eos = true;  // The reference did not stop at EOS.
  r.return_last_logits = true;
  return r;
}

// The case of `cases` with this adapter ("" = base) and prompt length.
inline const FixtureCase& FindCase(const std::vector<FixtureCase>& cases,
                                   const std::string& adapter,
                                   size_t prompt_len) {
  for (const FixtureCase& c : cases) {
    if (c.adapter == adapter && c.prompt_ids.size() == prompt_len) return c;
  }
  ADD_FAILURE() << "no case " << adapter << "/" << prompt_len;
  return cases[0];
}

}  // namespace loraplex::engine::testing

#endif  // LORAPLEX_TESTS_ENGINE_RUNTIME_ENGINE_TEST_UTIL_H_
