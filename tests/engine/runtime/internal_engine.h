// Engines with test-only internal options (includes LibTorch through
// engine_impl.h): hooks, row budgets, adapter retry clocks.
#ifndef LORAPLEX_TESTS_ENGINE_RUNTIME_INTERNAL_ENGINE_H_
#define LORAPLEX_TESTS_ENGINE_RUNTIME_INTERNAL_ENGINE_H_

#include <memory>

#include "engine/engine.h"
#include "engine/runtime/engine_impl.h"
#include "gtest/gtest.h"

namespace loraplex::engine::testing {

// An engine made with `internal`; null and a test failure if Create fails.
inline std::unique_ptr<Engine> MakeEngine(
    const EngineOptions& options, EngineObserver* observer,
    const EngineInternalOptions& internal) {
  auto engine = EngineImpl::Create(options, observer, internal);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

}  // namespace loraplex::engine::testing

#endif  // LORAPLEX_TESTS_ENGINE_RUNTIME_INTERNAL_ENGINE_H_
