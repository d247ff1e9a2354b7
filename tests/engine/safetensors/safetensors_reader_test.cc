#include "engine/safetensors/safetensors_reader.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "engine/safetensors/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::BytesOf;
using ::loraplex::testing::MessageOf;
using ::loraplex::testing::RawSafetensors;
using ::loraplex::testing::RawSafetensorsWithLength;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class SafetensorsFileTest : public ::testing::Test {
 protected:
  // Writes `bytes` to a file and opens it.
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenBytes(
      const std::string& bytes, const SafetensorsLimits& limits = {}) {
    path_ = dir_.Join("t.safetensors");
    WriteFile(path_, bytes);
    return SafetensorsFile::Open(path_, limits);
  }

  // Expects the file to be refused as INVALID_ARGUMENT with `substring` in a
  // message that starts with the file's path.
  void ExpectInvalid(const std::string& bytes, std::string_view substring) {
    auto file = OpenBytes(bytes);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(MessageOf(file.status()), StartsWith(path_ + ": "));
    EXPECT_THAT(MessageOf(file.status()), HasSubstr(substring));
  }

  TempDir dir_;
  std::string path_;
};

// ---- Malformed files ------------------------------------------------------

TEST_F(SafetensorsFileTest, RefusesFileShorterThanLengthPrefix) {
  ExpectInvalid("abcde", "file is 5 bytes, too short");
  ExpectInvalid("", "file is 0 bytes, too short");
}

TEST_F(SafetensorsFileTest, RefusesHeaderCutShort) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  ExpectInvalid(RawSafetensorsWithLength(header.size() + 10, header, ""),
                "runs past the end of the");
}

TEST_F(SafetensorsFileTest, RefusesHugeHeaderLengthBeforeAllocating) {
  // 2^40 bytes could not be allocated; the limit check must come first.
  ExpectInvalid(RawSafetensorsWithLength(uint64_t{1} << 40, "{}", ""),
                "header length 1099511627776 exceeds the limit of 100000000");
}

TEST_F(SafetensorsFileTest, RefusesHeaderOverConfiguredLimit) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})";
  SafetensorsLimits limits;
  limits.max_header_bytes = 16;
  auto file = OpenBytes(RawSafetensors(header, std::string(4, '\0')), limits);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(file.status()), HasSubstr("exceeds the limit of 16"));
}

TEST_F(SafetensorsFileTest, RefusesHeaderThatIsNotJson) {
  ExpectInvalid(RawSafetensors("{\"a\": nope}", ""),
                "header is not valid JSON");
}

TEST_F(SafetensorsFileTest, RefusesHeaderWithInvalidUtf8) {
  ExpectInvalid(RawSafetensors("{\"\xff\": {}}", ""),
                "header is not valid JSON");
}

TEST_F(SafetensorsFileTest, RefusesHeaderThatIsNotAnObject) {
  ExpectInvalid(RawSafetensors("[1, 2]", ""), "header is not a JSON object");
}

TEST_F(SafetensorsFileTest, RefusesEntryThatIsNotAnObject) {
  ExpectInvalid(RawSafetensors(R"({"w": [1]})", ""),
                "tensor 'w' is not a JSON object");
}

TEST_F(SafetensorsFileTest, RefusesUnsupportedDtypeByName) {
  ExpectInvalid(RawSafetensors(
                    R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                    std::string(8, '\0')),
                "tensor 'x' has dtype I64; supported: F32, F16, BF16");
  ExpectInvalid(RawSafetensors(
                    R"({"y":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                    std::string(8, '\0')),
                "tensor 'y' has dtype F64; supported: F32, F16, BF16");
}

TEST_F(SafetensorsFileTest, RefusesMissingOrMistypedFields) {
  const std::string data(4, '\0');
  ExpectInvalid(
      RawSafetensors(R"({"x":{"shape":[1],"data_offsets":[0,4]}})", data),
      "tensor 'x' has no string field \"dtype\"");
  ExpectInvalid(
      RawSafetensors(R"({"x":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})",
                     data),
      "tensor 'x' has no string field \"dtype\"");
  ExpectInvalid(
      RawSafetensors(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", data),
      "tensor 'x' has no array field \"shape\"");
  ExpectInvalid(
      RawSafetensors(
          R"({"x":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", data),
      "tensor 'x' has a shape entry that is not an integer");
  ExpectInvalid(RawSafetensors(R"({"x":{"dtype":"F32","shape":[1]}})", data),
                "tensor 'x' needs \"data_offsets\"");
  ExpectInvalid(
      RawSafetensors(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
                     data),
      "tensor 'x' needs \"data_offsets\"");
  ExpectInvalid(
      RawSafetensors(
          R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", data),
      "tensor 'x' needs \"data_offsets\"");
}

TEST_F(SafetensorsFileTest, RefusesNegativeDimension) {
  ExpectInvalid(
      RawSafetensors(
          R"({"x":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}})", ""),
      "tensor 'x' has a negative dimension (-1)");
}

TEST_F(SafetensorsFileTest, RefusesElementCountOverflow) {
  ExpectInvalid(
      RawSafetensors(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],)"
                     R"("data_offsets":[0,0]}})",
                     ""),
      "tensor 'x' has a shape whose element count overflows");
  // numel fits in int64 but numel * 4 bytes does not.
  ExpectInvalid(
      RawSafetensors(R"({"x":{"dtype":"F32","shape":[4611686018427387904],)"
                     R"("data_offsets":[0,0]}})",
                     ""),
      "tensor 'x' has 0 bytes but its shape and dtype need");
}

TEST_F(SafetensorsFileTest, RefusesBeginAfterEnd) {
  ExpectInvalid(RawSafetensors(
                    R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})",
                    std::string(4, '\0')),
                "tensor 'x' has data_offsets [4, 0] with begin > end");
}

TEST_F(SafetensorsFileTest, RefusesOffsetsPastDataArea) {
  ExpectInvalid(RawSafetensors(
                    R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                    std::string(4, '\0')),
                "tensor 'x' has data_offsets [0, 8] past the end of the data "
                "area (4 bytes)");
}

TEST_F(SafetensorsFileTest, RefusesByteLengthThatDoesNotMatchShape) {
  ExpectInvalid(
      RawSafetensors(
          R"({"x":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})",
          std::string(8, '\0')),
      "tensor 'x' has 8 bytes but its shape and dtype need 3 x 2 bytes");
}

TEST_F(SafetensorsFileTest, RefusesOverlappingTensors) {
  ExpectInvalid(RawSafetensors(
                    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                    std::string(12, '\0')),
                "tensors 'a' and 'b' overlap in the data area");
}

TEST_F(SafetensorsFileTest, RefusesZeroSizeTensorInsideAnother) {
  ExpectInvalid(
      RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                     std::string(8, '\0')),
      "tensors 'a' and 'z' overlap");
}

TEST_F(SafetensorsFileTest, RefusesHoleBetweenTensors) {
  ExpectInvalid(
      RawSafetensors(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          std::string(12, '\0')),
      "bytes [4, 8) of the data area belong to no tensor (hole before 'b')");
}

TEST_F(SafetensorsFileTest, RefusesHoleAtStartOfDataArea) {
  ExpectInvalid(RawSafetensors(
                    R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    std::string(8, '\0')),
                "bytes [0, 4) of the data area belong to no tensor");
}

TEST_F(SafetensorsFileTest, RefusesTrailingBytesAfterLastTensor) {
  ExpectInvalid(RawSafetensors(
                    R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                    std::string(6, '\0')),
                "bytes [4, 6) at the end of the data area belong to no tensor");
}

TEST_F(SafetensorsFileTest, RefusesDuplicateTensorNames) {
  ExpectInvalid(
      RawSafetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                     std::string(8, '\0')),
      "header repeats the key 'a'");
}

TEST_F(SafetensorsFileTest, RefusesDuplicateFieldInsideEntry) {
  ExpectInvalid(RawSafetensors(R"({"a":{"dtype":"F32","dtype":"F16",)"
                               R"("shape":[1],"data_offsets":[0,4]}})",
                               std::string(4, '\0')),
                "header repeats the key 'dtype'");
}

TEST_F(SafetensorsFileTest, RefusesMetadataThatIsNotStringToString) {
  ExpectInvalid(RawSafetensors(R"({"__metadata__":{"format":1}})", ""),
                "\"__metadata__\" value of 'format' is not a string");
  ExpectInvalid(RawSafetensors(R"({"__metadata__":["pt"]})", ""),
                "\"__metadata__\" must map strings to strings");
}

TEST_F(SafetensorsFileTest, MissingFileIsNotFound) {
  const std::string path = dir_.Join("absent.safetensors");
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(file.status()), StartsWith(path + ": cannot open"));
}

TEST_F(SafetensorsFileTest, DirectoryIsNotARegularFile) {
  auto file = SafetensorsFile::Open(dir_.path());
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(file.status()), HasSubstr("not a regular file"));
}

// ---- Valid files ----------------------------------------------------------

TEST_F(SafetensorsFileTest, ReadsSingleTensorWrittenByWriter) {
  SafetensorsWriter writer;
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};
  ASSERT_TRUE(writer.AddFloat32("w", {2, 3}, values.data()).ok());
  writer.SetMetadata("format", "pt");
  const std::string path = dir_.Join("w.safetensors");
  ASSERT_TRUE(writer.WriteFile(path).ok());

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 1u);
  const TensorInfo* w = (*file)->Find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, TensorDType::kF32);
  EXPECT_THAT(w->shape, ElementsAre(2, 3));
  EXPECT_EQ(w->numel(), 6);
  EXPECT_EQ(w->nbytes, 24u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->Find("missing"), nullptr);
  std::vector<float> read(6);
  ConvertToFloat32((*file)->Data(*w).data(), w->dtype, 6, read.data());
  EXPECT_EQ(read, values);
}

TEST_F(SafetensorsFileTest, ReadsMultipleTensorsInOffsetOrder) {
  // Stored in an order different from the header's key order.
  const std::string header =
      R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("c":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]}})";
  auto file = OpenBytes(RawSafetensors(header, std::string(10, '\x01')));
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& tensors = (*file)->tensors();
  ASSERT_EQ(tensors.size(), 3u);
  EXPECT_EQ(tensors[0].name, "a");
  EXPECT_EQ(tensors[1].name, "b");
  EXPECT_EQ(tensors[2].name, "c");
  const uint64_t data_start = 8 + header.size();
  EXPECT_EQ(tensors[1].data_offset, data_start + 4);
  EXPECT_EQ(tensors[1].dtype, TensorDType::kBF16);
  EXPECT_EQ(tensors[2].dtype, TensorDType::kF16);
  EXPECT_EQ((*file)->Data(tensors[2]).size(), 2u);
  EXPECT_TRUE((*file)->metadata().empty());
}

TEST_F(SafetensorsFileTest, ReadsScalar) {
  const float value = 42.0f;
  auto file = OpenBytes(
      RawSafetensors(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
                     BytesOf(std::vector<float>{value})));
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* s = (*file)->Find("s");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  float read = 0;
  ConvertToFloat32((*file)->Data(*s).data(), s->dtype, 1, &read);
  EXPECT_EQ(read, value);
}

TEST_F(SafetensorsFileTest, ReadsZeroSizeTensorsSharingAnOffset) {
  auto file = OpenBytes(RawSafetensors(
      R"({"e1":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
      R"("e2":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},)"
      R"("x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      std::string(4, '\0')));
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* e1 = (*file)->Find("e1");
  ASSERT_NE(e1, nullptr);
  EXPECT_EQ(e1->numel(), 0);
  EXPECT_EQ(e1->nbytes, 0u);
  EXPECT_TRUE((*file)->Data(*e1).empty());
  EXPECT_EQ((*file)->tensors().back().name, "x");
}

TEST_F(SafetensorsFileTest, AcceptsEmptyHeaderAndTrailingSpacePadding) {
  auto file = OpenBytes(RawSafetensors("{}       ", ""));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
}

TEST_F(SafetensorsFileTest, DataOfForeignTensorIsEmptyNotOutOfBounds) {
  auto file = OpenBytes(RawSafetensors(
      R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      std::string(4, '\0')));
  ASSERT_TRUE(file.ok()) << file.status();
  TensorInfo foreign;
  foreign.data_offset = 1 << 20;
  foreign.nbytes = 4;
  EXPECT_TRUE((*file)->Data(foreign).empty());
}

TEST(SafetensorsFixtureTest, OpensReferenceModelFile) {
  const std::string path = std::string(LORAPLEX_TEST_DATA_DIR) +
                           "/fixtures/hf-dev/llama-gqa/model/model.safetensors";
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 21u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  const TensorInfo* embed = (*file)->Find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, TensorDType::kF32);
  EXPECT_THAT(embed->shape, ElementsAre(512, 64));
  for (const TensorInfo& tensor : (*file)->tensors()) {
    EXPECT_TRUE(AllFinite((*file)->Data(tensor), tensor.dtype)) << tensor.name;
  }
}

}  // namespace
}  // namespace loraplex::engine
