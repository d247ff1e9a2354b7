// ParseBoundedJson / ReadBoundedJsonFile: Note [Bounded JSON].
#include "engine/common/bounded_json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::HasSubstr;

std::string Nested(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

template <typename T>
class BoundedJsonTest : public ::testing::Test {};
using JsonTypes = ::testing::Types<nlohmann::json, nlohmann::ordered_json>;
TYPED_TEST_SUITE(BoundedJsonTest, JsonTypes);

TYPED_TEST(BoundedJsonTest, ParsesWithinTheLimits) {
  auto value = ParseBoundedJson<TypeParam>(
      R"({"b": [1, {"c": null}], "a": "x", "d": 2.5})", "t.json", JsonLimits{});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)["b"][1]["c"], nullptr);
  EXPECT_EQ((*value)["a"], "x");
  EXPECT_EQ((*value)["d"], 2.5);
  EXPECT_EQ(value->size(), 3u);
}

TYPED_TEST(BoundedJsonTest, OrderedJsonKeepsFileOrder) {
  auto value =
      ParseBoundedJson<TypeParam>(R"({"z": 1, "a": 2})", "t", JsonLimits{});
  ASSERT_TRUE(value.ok());
  if constexpr (std::is_same_v<TypeParam, nlohmann::ordered_json>) {
    EXPECT_EQ(value->begin().key(), "z");
  } else {
    EXPECT_EQ(value->begin().key(), "a");
  }
}

TYPED_TEST(BoundedJsonTest, DepthLimitIsInclusive) {
  JsonLimits limits;
  limits.max_depth = 64;
  EXPECT_TRUE(ParseBoundedJson<TypeParam>(Nested(64), "t", limits).ok());
  auto deep = ParseBoundedJson<TypeParam>(Nested(65), "t", limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(deep.status()),
            "t: nests arrays and objects deeper than the limit of 64 levels");
}

TYPED_TEST(BoundedJsonTest, NestedArrayBombStopsAtTheDepthLimit) {
  // 1,000,000 levels would be a ~50 MB DOM; parsing stops at level 65.
  const std::string bomb(1000000, '[');
  auto value = ParseBoundedJson<TypeParam>(bomb, "bomb.json",
                                           JsonLimits{bomb.size(), 64});
  ASSERT_FALSE(value.ok());
  EXPECT_THAT(MessageOf(value.status()), HasSubstr("deeper than the limit"));
}

TYPED_TEST(BoundedJsonTest, RefusesTextOverTheSizeLimit) {
  auto value =
      ParseBoundedJson<TypeParam>(R"({"a": 1})", "t.json", JsonLimits{7, 64});
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(MessageOf(value.status()),
            "t.json: 8 bytes, over the limit of 7 bytes");
}

TYPED_TEST(BoundedJsonTest, RefusesRepeatedKeysAtAnyDepth) {
  auto top = ParseBoundedJson<TypeParam>(R"({"a": 1, "b": 2, "a": 3})", "t",
                                         JsonLimits{});
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(MessageOf(top.status()), "t: repeats the key 'a'");
  auto inner = ParseBoundedJson<TypeParam>(
      R"({"a": [{"x": 1}, {"x": 2, "x": 3}]})", "t", JsonLimits{});
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(MessageOf(inner.status()), "t: repeats the key 'x'");
  // Equal keys in different objects are fine.
  EXPECT_TRUE(ParseBoundedJson<TypeParam>(R"({"a": {"a": {"a": 1}}})", "t",
                                          JsonLimits{})
                  .ok());
}

TYPED_TEST(BoundedJsonTest, RefusesMalformedTextWithItsPosition) {
  for (const char* text : {"", "{", "{\"a\" 1}", "[1,]", "{} x", "\"\xff\""}) {
    auto value = ParseBoundedJson<TypeParam>(text, "t", JsonLimits{});
    ASSERT_FALSE(value.ok()) << text;
    EXPECT_THAT(MessageOf(value.status()),
                HasSubstr("t: not valid JSON (syntax error at byte"));
  }
}

TYPED_TEST(BoundedJsonTest, ParsesAnObjectWith200000Keys) {
  // nlohmann's own ordered_json parser inserts with a linear search
  // (quadratic in the object's size); the bounded builder does not. Only
  // the result is checked here: speed belongs in benchmarks.
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) {
    if (i > 0) text += ",";
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i);
  }
  text += "}";
  auto value =
      ParseBoundedJson<TypeParam>(text, "t", JsonLimits{text.size(), 64});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->size(), 200000u);
  EXPECT_EQ((*value)["k199999"], 199999);
}

TYPED_TEST(BoundedJsonTest, SyntaxErrorOffsetIsZeroBased) {
  auto comma = ParseBoundedJson<TypeParam>("[1,]", "t", JsonLimits{});
  EXPECT_EQ(MessageOf(comma.status()),
            "t: not valid JSON (syntax error at byte 3)");
  auto cut = ParseBoundedJson<TypeParam>("[1,", "t", JsonLimits{});
  EXPECT_EQ(MessageOf(cut.status()),
            "t: not valid JSON (syntax error at byte 3)");
}

TYPED_TEST(BoundedJsonTest, ReadsFilesUnderTheSizeLimit) {
  TempDir dir;
  WriteFile(dir.Join("c.json"), R"({"a": [1, 2]})");
  auto value = ReadBoundedJsonFile<TypeParam>(dir.Join("c.json"), "c.json",
                                              JsonLimits{});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)["a"][1], 2);
  WriteFile(dir.Join("big.json"), std::string(100, ' ') + "{}");
  auto big = ReadBoundedJsonFile<TypeParam>(dir.Join("big.json"), "big.json",
                                            JsonLimits{64, 64});
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(MessageOf(big.status()),
              HasSubstr("larger than the limit of 64 bytes"));
  auto missing = ReadBoundedJsonFile<TypeParam>(dir.Join("no.json"), "no.json",
                                                JsonLimits{});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace loraplex::engine
