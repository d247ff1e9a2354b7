// Bounds on safetensors headers (Note [Streaming header validation]):
// tensor count, nesting, dimensions, and headers with many entries.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/safetensors/safetensors_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::RawSafetensors;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::HasSubstr;

// A valid file of `count` one-float tensors "t<i>" tiling the data area.
std::string ManyTensors(int count) {
  std::string header = "{";
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&header, i > 0 ? "," : "", "\"t", i,
                    "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[",
                    4 * i, ",", 4 * (i + 1), "]}");
  }
  header += "}";
  return RawSafetensors(header, std::string(4 * static_cast<size_t>(count), 0));
}

class SafetensorsBoundsTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenBytes(
      const std::string& bytes, const SafetensorsLimits& limits = {}) {
    const std::string path = dir_.Join("t.safetensors");
    WriteFile(path, bytes);
    return SafetensorsFile::Open(path, limits);
  }

  void ExpectInvalid(const std::string& bytes, std::string_view substring,
                     const SafetensorsLimits& limits = {}) {
    auto file = OpenBytes(bytes, limits);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(MessageOf(file.status()), HasSubstr(substring));
  }

  TempDir dir_;
};

TEST_F(SafetensorsBoundsTest, DefaultTensorLimitRefuses100000Entries) {
  // Such a header took 105 s to reject when validation was quadratic.
  ExpectInvalid(ManyTensors(100000),
                "header lists more than 65536 tensors, the limit for this "
                "file");
}

TEST_F(SafetensorsBoundsTest, TensorLimitIsInclusive) {
  SafetensorsLimits limits;
  limits.max_tensors = 3;
  EXPECT_TRUE(OpenBytes(ManyTensors(3), limits).ok());
  ExpectInvalid(ManyTensors(4), "header lists more than 3 tensors", limits);
  // __metadata__ is not a tensor.
  limits.max_tensors = 1;
  EXPECT_TRUE(OpenBytes(RawSafetensors(R"({"__metadata__":{"format":"pt"},)"
                                       R"("a":{"dtype":"F32","shape":[1],)"
                                       R"("data_offsets":[0,4]}})",
                                       std::string(4, '\0')),
                        limits)
                  .ok());
}

TEST_F(SafetensorsBoundsTest, Opens100000EntriesWhenAllowed) {
  SafetensorsLimits limits;
  limits.max_tensors = 100000;
  auto file = OpenBytes(ManyTensors(100000), limits);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 100000u);
  EXPECT_EQ((*file)->tensors()[99999].name, "t99999");
  EXPECT_NE((*file)->Find("t12345"), nullptr);
}

TEST_F(SafetensorsBoundsTest, RefusesNestedArrayBombBeforeBuildingIt) {
  // 8 MB of '[' (a ~300 MB DOM for a DOM parser) inside an entry field.
  const std::string bomb = R"({"a":{"x":)" + std::string(8 << 20, '[');
  ExpectInvalid(RawSafetensors(bomb, ""),
                "header nests deeper than the limit of 8 levels");
  // Nested at the top: not an object.
  ExpectInvalid(RawSafetensors(std::string(1 << 20, '['), ""),
                "header is not a JSON object");
}

TEST_F(SafetensorsBoundsTest, IgnoresUnknownEntryFieldsWithinTheDepthLimit) {
  auto file = OpenBytes(
      RawSafetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],)"
                     R"("extra":{"k":[1,[2,{"x":null}]]},"more":"text"}})",
                     std::string(4, '\0')));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 1u);
}

TEST_F(SafetensorsBoundsTest, RefusesMoreThan64Dimensions) {
  std::string shape = "[1";
  for (int i = 1; i < 65; ++i) shape += ",1";
  shape += "]";
  ExpectInvalid(RawSafetensors(R"({"a":{"dtype":"F32","shape":)" + shape +
                                   R"(,"data_offsets":[0,4]}})",
                               std::string(4, '\0')),
                "tensor 'a' has more than 64 dimensions");
}

TEST_F(SafetensorsBoundsTest, WrongTypesInsideArraysAreNamed) {
  ExpectInvalid(RawSafetensors(R"({"a":{"dtype":"F32","shape":[[1]],)"
                               R"("data_offsets":[0,4]}})",
                               std::string(4, '\0')),
                "tensor 'a' has a shape entry that is not an integer");
  ExpectInvalid(RawSafetensors(R"({"a":{"dtype":["F32"],"shape":[1],)"
                               R"("data_offsets":[0,4]}})",
                               std::string(4, '\0')),
                "tensor 'a' has no string field \"dtype\"");
  ExpectInvalid(RawSafetensors(R"({"a":{"dtype":"F32","shape":{"n":1},)"
                               R"("data_offsets":[0,4]}})",
                               std::string(4, '\0')),
                "tensor 'a' has no array field \"shape\"");
  ExpectInvalid(RawSafetensors(R"({"a":{"dtype":"F32","shape":[1],)"
                               R"("data_offsets":[0,4,8]}})",
                               std::string(4, '\0')),
                "tensor 'a' needs \"data_offsets\"");
  ExpectInvalid(RawSafetensors(R"({"__metadata__":{"k":{"v":1}}})", ""),
                "\"__metadata__\" value of 'k' is not a string");
  ExpectInvalid(RawSafetensors(R"({"__metadata__":{},"__metadata__":{}})", ""),
                "header repeats the key '__metadata__'");
  ExpectInvalid(RawSafetensors(R"({"__metadata__":{"k":"1","k":"2"}})", ""),
                "header repeats the key 'k'");
}

}  // namespace
}  // namespace loraplex::engine
