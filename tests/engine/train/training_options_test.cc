// Option checks, LoRA target names, supported architectures and the
// learning-rate schedule.
#include "engine/train/training_options.h"

#include <vector>

#include "engine/train/lr_schedule.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ValidateTrainingOptionsTest, AcceptsDefaults) {
  EXPECT_TRUE(ValidateTrainingOptions(TrainingOptions{}).ok());
}

TEST(ValidateTrainingOptionsTest, NamesTheFlagOutOfRange) {
  const std::vector<std::pair<void (*)(TrainingOptions&), const char*>> cases =
      {
          {[](TrainingOptions& o) { o.steps = 0; }, "--steps"},
          {[](TrainingOptions& o) { o.seq_len = 1; }, "--seq-len"},
          {[](TrainingOptions& o) { o.batch_size = 0; }, "--batch-size"},
          {[](TrainingOptions& o) { o.lr = 0; }, "--lr"},
          {[](TrainingOptions& o) { o.warmup_steps = -1; }, "--warmup"},
          {[](TrainingOptions& o) { o.weight_decay = -0.1; }, "--weight-decay"},
          {[](TrainingOptions& o) { o.clip_norm = -1; }, "--clip"},
          {[](TrainingOptions& o) { o.heldout_fraction = 0.9; },
           "--eval-fraction"},
          {[](TrainingOptions& o) { o.checkpoint_every = -5; },
           "--checkpoint-every"},
          {[](TrainingOptions& o) { o.num_threads = -1; }, "--threads"},
      };
  for (const auto& [mutate, flag] : cases) {
    TrainingOptions options;
    mutate(options);
    const absl::Status status = ValidateTrainingOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << flag;
    EXPECT_THAT(MessageOf(status), HasSubstr(flag));
  }
}

TEST(ParseLoraTargetsTest, TakesShortAndFullNamesOnce) {
  auto kinds = ParseLoraTargets({"q", "v_proj", "down", "q_proj"});
  ASSERT_TRUE(kinds.ok()) << kinds.status();
  EXPECT_THAT(*kinds,
              ElementsAre(LinearKind::kQ, LinearKind::kV, LinearKind::kDown));
}

TEST(ParseLoraTargetsTest, RefusesUnknownAndEmpty) {
  auto unknown = ParseLoraTargets({"q", "lm_head"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(unknown.status()), HasSubstr("'lm_head'"));
  EXPECT_EQ(ParseLoraTargets({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckTrainableArchitectureTest, RefusesWhatTheTrainerCannotCompute) {
  ModelConfig config;
  config.architecture = "Qwen2ForCausalLM";
  EXPECT_TRUE(CheckTrainableArchitecture(config).ok());
  config.qkv_bias = true;
  EXPECT_THAT(MessageOf(CheckTrainableArchitecture(config)),
              HasSubstr("biases"));
  config.qkv_bias = false;
  config.rope_scaling.type = RopeScalingType::kLlama3;
  EXPECT_THAT(MessageOf(CheckTrainableArchitecture(config)),
              HasSubstr("RoPE scaling"));
  config.rope_scaling.type = RopeScalingType::kNone;
  config.sliding_window = 128;
  const absl::Status status = CheckTrainableArchitecture(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(status), HasSubstr("sliding-window"));
}

TEST(LrScheduleTest, WarmsUpLinearlyThenDecaysByCosineToTheFloor) {
  const LrSchedule schedule{/*peak_lr=*/1.0, /*warmup_steps=*/4,
                            /*total_steps=*/13, /*min_lr_ratio=*/0.1};
  EXPECT_DOUBLE_EQ(LearningRateAt(schedule, 0), 0.25);
  EXPECT_DOUBLE_EQ(LearningRateAt(schedule, 3), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(schedule, 4), 1.0);  // Decay starts.
  // Midway through the 8 decay intervals: (peak + floor) / 2.
  EXPECT_NEAR(LearningRateAt(schedule, 8), 0.55, 1e-12);
  EXPECT_DOUBLE_EQ(LearningRateAt(schedule, 12), 0.1);  // Last step.
  EXPECT_DOUBLE_EQ(LearningRateAt(schedule, 100), 0.1);
  const LrSchedule no_warmup{2.0, 0, 10, 0.1};
  EXPECT_DOUBLE_EQ(LearningRateAt(no_warmup, 0), 2.0);
}

}  // namespace
}  // namespace loraplex::engine
