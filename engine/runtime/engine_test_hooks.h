// Internal: test-only seams into the engine loop. Production engines have
// none (EngineInternalOptions::hooks is null, and each point then costs one
// pointer test); tests subclass EngineTestHooks to inject device errors at a
// point, to count how often a point is reached, or to hold the loop.
#ifndef LORAPLEX_ENGINE_RUNTIME_ENGINE_TEST_HOOKS_H_
#define LORAPLEX_ENGINE_RUNTIME_ENGINE_TEST_HOOKS_H_

namespace loraplex::engine {

enum class EngineHookPoint {
  // Start of every loop iteration, outside any per-request error handling
  // (a throw here exercises the loop's last-resort guard).
  kLoopIteration,
  // Just before an adapter is copied from host memory into a device slot.
  kAdapterDeviceCopy,
  // Just before a forward step runs.
  kForwardStep,
  // Just before a text prompt is tokenized (on the Submit caller's thread).
  kTokenizePrompt,
};

class EngineTestHooks {
 public:
  virtual ~EngineTestHooks() = default;
  // Called when the engine reaches `point`, on the thread named above. May
  // throw (e.g. a c10::Error to simulate a device failure) or block.
  virtual void Reached(EngineHookPoint point) = 0;
};

// Calls `hooks->Reached(point)` when there are hooks.
inline void ReachHook(EngineTestHooks* hooks, EngineHookPoint point) {
  if (hooks != nullptr) hooks->Reached(point);
}

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_ENGINE_TEST_HOOKS_H_
