// ConvertToFloat32 and AllFinite against known bit patterns.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/safetensors/safetensors_reader.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::BytesOf;

uint32_t FloatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

std::vector<float> Convert(const std::vector<uint16_t>& halves,
                           TensorDType dtype) {
  const std::string bytes = BytesOf(halves);
  std::vector<float> out(halves.size());
  ConvertToFloat32(reinterpret_cast<const uint8_t*>(bytes.data()), dtype,
                   halves.size(), out.data());
  return out;
}

absl::Span<const uint8_t> AsSpan(const std::string& bytes) {
  return absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(TensorDTypeTest, SizesAndNames) {
  EXPECT_EQ(TensorDTypeSize(TensorDType::kF32), 4u);
  EXPECT_EQ(TensorDTypeSize(TensorDType::kF16), 2u);
  EXPECT_EQ(TensorDTypeSize(TensorDType::kBF16), 2u);
  EXPECT_STREQ(TensorDTypeName(TensorDType::kF32), "F32");
  EXPECT_STREQ(TensorDTypeName(TensorDType::kF16), "F16");
  EXPECT_STREQ(TensorDTypeName(TensorDType::kBF16), "BF16");
}

TEST(ConvertToFloat32Test, HalfKnownBitPatterns) {
  const std::vector<float> out =
      Convert({0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x03ff, 0x3555, 0x0000,
               0x8000, 0x7c00, 0xfc00},
              TensorDType::kF16);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 65504.0f);                  // largest finite half
  EXPECT_EQ(out[3], std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(out[4], std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(out[5], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(out[6], 0.333251953125f);
  EXPECT_EQ(FloatBits(out[7]), 0x00000000u);  // +0
  EXPECT_EQ(FloatBits(out[8]), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(out[9], std::numeric_limits<float>::infinity());
  EXPECT_EQ(out[10], -std::numeric_limits<float>::infinity());
}

TEST(ConvertToFloat32Test, HalfNaNStaysNaN) {
  const std::vector<float> out =
      Convert({0x7e00, 0xfc01, 0x7c01}, TensorDType::kF16);
  for (float f : out) {
    EXPECT_TRUE(std::isnan(f));
  }
}

// Every one of the 65536 half values against the definition of binary16.
TEST(ConvertToFloat32Test, HalfIsExactForEveryBitPattern) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < all.size(); ++i) {
    all[i] = static_cast<uint16_t>(i);
  }
  const std::vector<float> out = Convert(all, TensorDType::kF16);
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    const double sign = (bits & 0x8000) ? -1.0 : 1.0;
    if (exponent == 31) {
      EXPECT_EQ(std::isnan(out[bits]), mantissa != 0) << bits;
      continue;
    }
    const double expected =
        exponent == 0 ? sign * std::ldexp(mantissa, -24)
                      : sign * std::ldexp(1024 + mantissa, exponent - 25);
    ASSERT_EQ(static_cast<double>(out[bits]), expected) << "bits " << bits;
  }
}

TEST(ConvertToFloat32Test, BFloat16KnownBitPatterns) {
  const std::vector<float> out =
      Convert({0x3f80, 0xc040, 0x3eab, 0x0001, 0x7f7f, 0x7f80, 0xff80, 0x8000},
              TensorDType::kBF16);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  EXPECT_EQ(out[2], 0.333984375f);
  EXPECT_EQ(FloatBits(out[3]), 0x00010000u);  // float subnormal
  EXPECT_EQ(FloatBits(out[4]), 0x7f7f0000u);  // largest finite bf16
  EXPECT_EQ(out[5], std::numeric_limits<float>::infinity());
  EXPECT_EQ(out[6], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(FloatBits(out[7]), 0x80000000u);
}

TEST(ConvertToFloat32Test, Float32IsCopiedBitExact) {
  const std::vector<float> values = {1.0f, -0.0f, 1e-45f, 3.4e38f};
  const std::string bytes = BytesOf(values);
  std::vector<float> out(values.size());
  ConvertToFloat32(reinterpret_cast<const uint8_t*>(bytes.data()),
                   TensorDType::kF32, values.size(), out.data());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(FloatBits(out[i]), FloatBits(values[i]));
  }
}

TEST(ConvertToFloat32Test, ReadsUnalignedData) {
  std::string bytes(1, '\0');
  bytes += BytesOf(std::vector<float>{2.5f, -1.0f});
  std::vector<float> out(2);
  ConvertToFloat32(reinterpret_cast<const uint8_t*>(bytes.data()) + 1,
                   TensorDType::kF32, 2, out.data());
  EXPECT_EQ(out, (std::vector<float>{2.5f, -1.0f}));
}

// Places `bad` at several positions (first block, a later block, the end)
// of an otherwise finite tensor and expects AllFinite to notice each time.
template <typename T>
void ExpectAllFiniteDetects(TensorDType dtype, T finite, T bad) {
  std::vector<T> values(3000, finite);
  EXPECT_TRUE(AllFinite(AsSpan(BytesOf(values)), dtype));
  for (size_t position : {size_t{0}, size_t{1500}, values.size() - 1}) {
    std::vector<T> with_bad = values;
    with_bad[position] = bad;
    EXPECT_FALSE(AllFinite(AsSpan(BytesOf(with_bad)), dtype))
        << "position " << position;
  }
}

TEST(AllFiniteTest, Float32) {
  const float inf = std::numeric_limits<float>::infinity();
  const float max = std::numeric_limits<float>::max();
  ExpectAllFiniteDetects<float>(TensorDType::kF32, max, inf);
  ExpectAllFiniteDetects<float>(TensorDType::kF32, -1.0f, -inf);
  ExpectAllFiniteDetects<float>(TensorDType::kF32, 1e-45f,
                                std::numeric_limits<float>::quiet_NaN());
}

TEST(AllFiniteTest, Half) {
  ExpectAllFiniteDetects<uint16_t>(TensorDType::kF16, 0x7bff, 0x7c00);  // +inf
  ExpectAllFiniteDetects<uint16_t>(TensorDType::kF16, 0x8001, 0xfc00);  // -inf
  ExpectAllFiniteDetects<uint16_t>(TensorDType::kF16, 0x3c00, 0x7e00);  // NaN
}

TEST(AllFiniteTest, BFloat16) {
  ExpectAllFiniteDetects<uint16_t>(TensorDType::kBF16, 0x7f7f, 0x7f80);  // +inf
  ExpectAllFiniteDetects<uint16_t>(TensorDType::kBF16, 0xbf80, 0xff80);  // -inf
  ExpectAllFiniteDetects<uint16_t>(TensorDType::kBF16, 0x0001, 0x7fc0);  // NaN
}

TEST(AllFiniteTest, EmptyTensorIsFinite) {
  EXPECT_TRUE(AllFinite({}, TensorDType::kF32));
  EXPECT_TRUE(AllFinite({}, TensorDType::kBF16));
}

}  // namespace
}  // namespace loraplex::engine
