// EngineTestHooks for tests (includes LibTorch): counts the points the
// engine reaches, throws a c10::Error at armed points (a simulated device
// failure), and can hold the engine loop at the start of its iterations.
#ifndef LORAPLEX_TESTS_ENGINE_RUNTIME_RECORDING_HOOKS_H_
#define LORAPLEX_TESTS_ENGINE_RUNTIME_RECORDING_HOOKS_H_

#include <c10/util/Exception.h>

#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/runtime/engine_test_hooks.h"

namespace loraplex::engine::testing {

class RecordingHooks final : public EngineTestHooks {
 public:
  // The next `times` arrivals at `point` throw.
  void FailNext(EngineHookPoint point, int times = 1) {
    absl::MutexLock lock(&mu_);
    armed_[point] += times;
  }
  int reached(EngineHookPoint point) const {
    absl::MutexLock lock(&mu_);
    auto it = reached_.find(point);
    return it == reached_.end() ? 0 : it->second;
  }
  // While held, the loop waits at the start of each iteration (after taking
  // what was submitted), so nothing is admitted or stepped.
  void HoldLoop() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void ReleaseLoop() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }

  void Reached(EngineHookPoint point) override {
    bool fail = false;
    {
      absl::MutexLock lock(&mu_);
      ++reached_[point];
      if (point == EngineHookPoint::kLoopIteration) {
        mu_.Await(absl::Condition(
            +[](bool* held) { return !*held; }, &held_));
      }
      auto it = armed_.find(point);
      if (it != armed_.end() && it->second > 0) {
        --it->second;
        fail = true;
      }
    }
    TORCH_CHECK(!fail, "injected device error");
  }

 private:
  mutable absl::Mutex mu_;
  std::map<EngineHookPoint, int> reached_ ABSL_GUARDED_BY(mu_);
  std::map<EngineHookPoint, int> armed_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace loraplex::engine::testing

#endif  // LORAPLEX_TESTS_ENGINE_RUNTIME_RECORDING_HOOKS_H_
