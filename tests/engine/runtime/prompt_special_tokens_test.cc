// GenerationRequest::add_special_tokens: a text prompt is encoded with the
// tokenizer's special tokens (the demo model's BOS) only when asked, so a
// rendered chat template, which already holds its BOS text, is not given a
// second one.
#include <string>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/engine_test_util.h"

namespace loraplex::engine {
namespace {

using testing::Collector;
using testing::MakeEngine;

// The embedded demo model: its tokenizer's post-processor adds BOS (id 0).
EngineOptions DemoModelOptions() {
  EngineOptions options;
  options.model_dir =
      std::string(LORAPLEX_TEST_DATA_DIR) + "/../../models/demo";
  options.device = "cpu";
  options.max_seq_len = 64;
  options.num_threads = 1;
  return options;
}

GenerationUsage RunTextPrompt(Engine& engine, bool add_special_tokens) {
  GenerationRequest request;
  request.prompt_text = "hello";
  request.add_special_tokens = add_special_tokens;
  request.stopping.max_new_tokens = 1;
  Collector collector;
  EXPECT_TRUE(engine.Submit(request, collector.Callback()).ok());
  collector.Wait();
  return collector.final_event().usage;
}

TEST(PromptSpecialTokensTest, TextPromptsGetSpecialTokensOnlyWhenAsked) {
  auto engine = MakeEngine(DemoModelOptions());
  ASSERT_NE(engine, nullptr);
  const auto with = engine->Tokenize("hello", /*add_special_tokens=*/true);
  const auto without = engine->Tokenize("hello", /*add_special_tokens=*/false);
  ASSERT_TRUE(with.ok() && without.ok());
  ASSERT_EQ(with->size(), without->size() + 1);  // The BOS.

  EXPECT_EQ(RunTextPrompt(*engine, /*add_special_tokens=*/true).prompt_tokens,
            static_cast<int32_t>(with->size()));
  EXPECT_EQ(RunTextPrompt(*engine, /*add_special_tokens=*/false).prompt_tokens,
            static_cast<int32_t>(without->size()));
}

}  // namespace
}  // namespace loraplex::engine
