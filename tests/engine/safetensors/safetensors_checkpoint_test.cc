// SafetensorsCheckpoint (single file and sharded) and SafetensorsWriter.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/safetensors/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Writes a shard holding one float tensor per (name, value).
void WriteShard(const std::string& path,
                const std::vector<std::pair<std::string, float>>& tensors) {
  SafetensorsWriter writer;
  for (const auto& [name, value] : tensors) {
    ASSERT_TRUE(writer.AddFloat32(name, {1}, &value).ok());
  }
  ASSERT_TRUE(writer.WriteFile(path).ok());
}

float ReadScalar(const SafetensorsCheckpoint& checkpoint,
                 const std::string& name) {
  const TensorInfo* tensor = checkpoint.Find(name);
  if (tensor == nullptr) {
    ADD_FAILURE() << "no tensor " << name;
    return 0;
  }
  float value = 0;
  ConvertToFloat32(checkpoint.Data(*tensor).data(), tensor->dtype, 1, &value);
  return value;
}

class ShardedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteShard(dir_.Join("model-00001-of-00002.safetensors"),
               {{"a.weight", 1.0f}, {"b.weight", 2.0f}});
    WriteShard(dir_.Join("model-00002-of-00002.safetensors"),
               {{"c.weight", 3.0f}});
  }

  void WriteIndex(const std::string& weight_map_json) {
    WriteFile(dir_.Join("model.safetensors.index.json"),
              R"({"metadata": {"total_size": 12}, "weight_map": )" +
                  weight_map_json + "}");
  }

  static std::string GoodWeightMap() {
    return R"({"a.weight": "model-00001-of-00002.safetensors",
               "b.weight": "model-00001-of-00002.safetensors",
               "c.weight": "model-00002-of-00002.safetensors"})";
  }

  void ExpectOpenFails(absl::StatusCode code, std::string_view substring) {
    auto checkpoint = SafetensorsCheckpoint::Open(dir_.path());
    ASSERT_FALSE(checkpoint.ok());
    EXPECT_EQ(checkpoint.status().code(), code) << checkpoint.status();
    EXPECT_THAT(MessageOf(checkpoint.status()), HasSubstr(substring));
  }

  TempDir dir_;
};

TEST_F(ShardedCheckpointTest, OpensTwoShards) {
  WriteIndex(GoodWeightMap());
  auto checkpoint = SafetensorsCheckpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->TensorNames(),
              ElementsAre("a.weight", "b.weight", "c.weight"));
  EXPECT_EQ(ReadScalar(**checkpoint, "a.weight"), 1.0f);
  EXPECT_EQ(ReadScalar(**checkpoint, "b.weight"), 2.0f);
  EXPECT_EQ(ReadScalar(**checkpoint, "c.weight"), 3.0f);
  EXPECT_EQ((*checkpoint)->Find("d.weight"), nullptr);
}

TEST_F(ShardedCheckpointTest, MissingShardIsNotFound) {
  WriteIndex(R"({"a.weight": "model-00001-of-00002.safetensors",
                 "b.weight": "model-00001-of-00002.safetensors",
                 "c.weight": "model-00003-of-00003.safetensors"})");
  ExpectOpenFails(absl::StatusCode::kNotFound,
                  "model-00003-of-00003.safetensors: cannot open");
}

TEST_F(ShardedCheckpointTest, TensorMissingFromItsShard) {
  WriteIndex(R"({"a.weight": "model-00001-of-00002.safetensors",
                 "b.weight": "model-00001-of-00002.safetensors",
                 "c.weight": "model-00002-of-00002.safetensors",
                 "d.weight": "model-00002-of-00002.safetensors"})");
  ExpectOpenFails(
      absl::StatusCode::kInvalidArgument,
      "tensor 'd.weight' is listed in shard "
      "'model-00002-of-00002.safetensors', which does not contain it");
}

TEST_F(ShardedCheckpointTest, TensorInShardButNotInIndex) {
  WriteIndex(R"({"a.weight": "model-00001-of-00002.safetensors",
                 "c.weight": "model-00002-of-00002.safetensors"})");
  ExpectOpenFails(absl::StatusCode::kInvalidArgument,
                  "shard 'model-00001-of-00002.safetensors' holds tensor "
                  "'b.weight', which the index does not list");
}

TEST_F(ShardedCheckpointTest, TensorInTwoShards) {
  WriteShard(dir_.Join("model-00002-of-00002.safetensors"),
             {{"c.weight", 3.0f}, {"a.weight", 9.0f}});
  WriteIndex(GoodWeightMap());
  ExpectOpenFails(absl::StatusCode::kInvalidArgument,
                  "holds tensor 'a.weight', which the index lists in shard "
                  "'model-00001-of-00002.safetensors'");
}

TEST_F(ShardedCheckpointTest, RefusesPathTraversalInIndex) {
  for (const std::string shard :
       {"../model-00001-of-00002.safetensors", "/etc/passwd",
        "sub/model.safetensors", "..", "."}) {
    WriteIndex(R"({"a.weight": ")" + shard + R"("})");
    ExpectOpenFails(
        absl::StatusCode::kInvalidArgument,
        "shard '" + shard +
            "' is not a plain file name inside the model directory");
  }
}

TEST_F(ShardedCheckpointTest, RefusesMalformedIndex) {
  WriteFile(dir_.Join("model.safetensors.index.json"), "{not json");
  ExpectOpenFails(absl::StatusCode::kInvalidArgument,
                  "model.safetensors.index.json: not valid JSON");
  WriteFile(dir_.Join("model.safetensors.index.json"), R"({"metadata": {}})");
  ExpectOpenFails(absl::StatusCode::kInvalidArgument,
                  "no \"weight_map\" object");
  WriteIndex(R"({"a.weight": 1})");
  ExpectOpenFails(absl::StatusCode::kInvalidArgument,
                  "weight_map entry 'a.weight' is not a string");
  WriteIndex(R"({"a.weight": "model-00001-of-00002.safetensors",
                 "a.weight": "model-00002-of-00002.safetensors"})");
  ExpectOpenFails(absl::StatusCode::kInvalidArgument,
                  "model.safetensors.index.json: repeats the key 'a.weight'");
}

TEST_F(ShardedCheckpointTest, SingleFileWinsOverIndex) {
  WriteIndex(R"({"x": "../elsewhere"})");  // Would be refused if read.
  WriteShard(dir_.Join("model.safetensors"), {{"only", 5.0f}});
  auto checkpoint = SafetensorsCheckpoint::Open(dir_.path() + "/");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->TensorNames(), ElementsAre("only"));
  EXPECT_EQ(ReadScalar(**checkpoint, "only"), 5.0f);
}

TEST(SafetensorsCheckpointTest, EmptyDirectoryNamesBothFiles) {
  TempDir dir;
  auto checkpoint = SafetensorsCheckpoint::Open(dir.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(checkpoint.status()),
              HasSubstr("neither model.safetensors nor "
                        "model.safetensors.index.json exists"));
}

TEST(SafetensorsCheckpointTest, OpensReferenceModelDirectory) {
  auto checkpoint =
      SafetensorsCheckpoint::Open(std::string(LORAPLEX_TEST_DATA_DIR) +
                                  "/fixtures/hf-dev/qwen2-bias/model");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ((*checkpoint)->TensorNames().size(), 26u);
  const TensorInfo* bias =
      (*checkpoint)->Find("model.layers.1.self_attn.k_proj.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_THAT(bias->shape, ElementsAre(32));
  EXPECT_EQ((*checkpoint)->Data(*bias).size(), 128u);
  EXPECT_EQ((*checkpoint)->Find("lm_head.weight"), nullptr);  // tied
}

// ---- SafetensorsWriter ----------------------------------------------------

TEST(SafetensorsWriterTest, RefusesInvalidTensors) {
  SafetensorsWriter writer;
  const float value = 1.0f;
  ASSERT_TRUE(writer.AddFloat32("x", {1}, &value).ok());
  absl::Status duplicate = writer.AddFloat32("x", {1}, &value);
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(duplicate), HasSubstr("duplicate tensor name 'x'"));
  absl::Status reserved = writer.AddFloat32("__metadata__", {1}, &value);
  EXPECT_THAT(MessageOf(reserved), HasSubstr("invalid tensor name"));
  absl::Status size =
      writer.Add("y", TensorDType::kF16, {3}, std::string(4, '\0'));
  EXPECT_THAT(MessageOf(size), HasSubstr("4 bytes do not match its shape"));
  absl::Status negative = writer.Add("z", TensorDType::kF32, {-1}, "");
  EXPECT_THAT(MessageOf(negative), HasSubstr("negative dimension"));
  absl::Status overflow = writer.Add("o", TensorDType::kF32,
                                     {int64_t{1} << 62, int64_t{1} << 62}, "");
  EXPECT_EQ(overflow.code(), absl::StatusCode::kInvalidArgument);
}

TEST(SafetensorsWriterTest, WriteFileFailsInMissingDirectory) {
  SafetensorsWriter writer;
  TempDir dir;
  absl::Status status = writer.WriteFile(dir.Join("no/such/dir/x.safetensors"));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(MessageOf(status), HasSubstr("cannot create"));
}

TEST(SafetensorsWriterTest, HeaderIsPaddedToEightBytes) {
  SafetensorsWriter writer;
  const float value = 1.0f;
  ASSERT_TRUE(writer.AddFloat32("abc", {1}, &value).ok());
  const std::string bytes = writer.Serialize();
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) {
    header_length = (header_length << 8) | static_cast<uint8_t>(bytes[i]);
  }
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_length + 4);
}

}  // namespace
}  // namespace loraplex::engine
