#include "tools/loadgen/random_adapter.h"

#include <fstream>
#include <sstream>

#include "engine/lora/lora_adapter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace loraplex::loadgen {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(LoadModelConfigFromTest, TakesAFileOrADirectory) {
  const std::string dir = loraplex::testing::FixtureModelDir();
  absl::StatusOr<engine::ModelConfig> from_dir = LoadModelConfigFrom(dir);
  ASSERT_TRUE(from_dir.ok()) << from_dir.status();
  absl::StatusOr<engine::ModelConfig> from_file =
      LoadModelConfigFrom(dir + "/config.json");
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_dir->hidden_size, 64);
  EXPECT_EQ(from_file->num_key_value_heads, 2);
  EXPECT_EQ(from_file->vocab_size, 512);
}

TEST(LoadModelConfigFromTest, MissingFileIsNotFound) {
  absl::StatusOr<engine::ModelConfig> config =
      LoadModelConfigFrom("/nonexistent/config.json");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/config.json"));
}

TEST(WriteRandomAdapterTest, WritesAnAdapterTheEngineAccepts) {
  absl::StatusOr<engine::ModelConfig> model =
      LoadModelConfigFrom(loraplex::testing::FixtureModelDir());
  ASSERT_TRUE(model.ok());
  loraplex::testing::TempDir dir;
  RandomAdapterSpec spec;
  spec.rank = 4;
  spec.target_modules = {"q_proj", "v_proj", "down_proj"};
  ASSERT_TRUE(WriteRandomAdapter(*model, spec, dir.path()).ok());

  absl::StatusOr<std::unique_ptr<engine::LoraAdapterFiles>> files =
      engine::LoraAdapterFiles::Open(dir.path(), *model);
  ASSERT_TRUE(files.ok()) << files.status();
  const engine::LoraAdapterSummary& summary = (*files)->summary();
  EXPECT_EQ(summary.max_rank, 4);
  EXPECT_DOUBLE_EQ(summary.lora_alpha, 16);
  EXPECT_EQ(summary.num_modules, 2 * 3);  // Two layers, three kinds.
  EXPECT_THAT(summary.targets,
              UnorderedElementsAre("q_proj", "v_proj", "down_proj"));
}

TEST(WriteRandomAdapterTest, SameSeedSameBytesOtherSeedOtherBytes) {
  absl::StatusOr<engine::ModelConfig> model =
      LoadModelConfigFrom(loraplex::testing::FixtureModelDir());
  ASSERT_TRUE(model.ok());
  loraplex::testing::TempDir a, b, c;
  RandomAdapterSpec spec;
  spec.seed = 11;
  ASSERT_TRUE(WriteRandomAdapter(*model, spec, a.path()).ok());
  ASSERT_TRUE(WriteRandomAdapter(*model, spec, b.path()).ok());
  spec.seed = 12;
  ASSERT_TRUE(WriteRandomAdapter(*model, spec, c.path()).ok());
  const std::string weights = "/adapter_model.safetensors";
  EXPECT_EQ(ReadFile(a.path() + weights), ReadFile(b.path() + weights));
  EXPECT_NE(ReadFile(a.path() + weights), ReadFile(c.path() + weights));
}

TEST(WriteRandomAdapterTest, RejectsBadSpecs) {
  absl::StatusOr<engine::ModelConfig> model =
      LoadModelConfigFrom(loraplex::testing::FixtureModelDir());
  ASSERT_TRUE(model.ok());
  loraplex::testing::TempDir dir;
  RandomAdapterSpec spec;
  spec.rank = 0;
  EXPECT_EQ(WriteRandomAdapter(*model, spec, dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
  spec.rank = 4;
  spec.target_modules = {};
  EXPECT_EQ(WriteRandomAdapter(*model, spec, dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
  spec.target_modules = {"q_proj", "lm_head"};
  absl::Status unknown = WriteRandomAdapter(*model, spec, dir.path());
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("'lm_head'"));
}

}  // namespace
}  // namespace loraplex::loadgen
