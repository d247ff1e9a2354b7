// Element-type helpers of safetensors_reader.h: sizes, names, conversion to
// float and the finiteness scan.
#include <cstdint>
#include <cstring>

#include "engine/safetensors/safetensors_reader.h"

// Tensor bytes are little-endian and are reinterpreted in place.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "Loraplex reads little-endian tensor data in place");

namespace loraplex::engine {
namespace {

// Unaligned loads: the data area of a safetensors file need not be aligned.
inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float BitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// IEEE 754 binary16 -> binary32, exact for every input (the wider format
// represents every half value, subnormals included).
inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) {  // Inf or NaN; keep the NaN payload.
    return BitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent != 0) {  // Normal: rebias 15 -> 127.
    return BitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  }
  if (mantissa == 0) {
    return BitsToFloat(sign);  // +-0
  }
  // Subnormal half: value = mantissa * 2^-24. Normalise it into a float.
  int shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  mantissa &= 0x3ffu;
  const uint32_t float_exponent = static_cast<uint32_t>(113 - shift);
  return BitsToFloat(sign | (float_exponent << 23) | (mantissa << 13));
}

// Scans `count` elements of `width` bytes whose exponent field is `mask`
// and reports whether any has an all-ones exponent (Inf or NaN). Works in
// blocks so the inner loop has no early exit and vectorises.
template <typename Bits, Bits (*Load)(const uint8_t*)>
bool AllExponentsFinite(const uint8_t* data, size_t count, Bits mask) {
  constexpr size_t kBlock = 1024;
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t end = count - start < kBlock ? count : start + kBlock;
    bool non_finite = false;
    for (size_t i = start; i < end; ++i) {
      non_finite |= (Load(data + i * sizeof(Bits)) & mask) == mask;
    }
    if (non_finite) {
      return false;
    }
  }
  return true;
}

}  // namespace

size_t TensorDTypeSize(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF32:
      return 4;
    case TensorDType::kF16:
    case TensorDType::kBF16:
      return 2;
  }
  return 0;
}

const char* TensorDTypeName(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF32:
      return "F32";
    case TensorDType::kF16:
      return "F16";
    case TensorDType::kBF16:
      return "BF16";
  }
  return "?";
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    n *= d;  // Open() proved this cannot overflow.
  }
  return n;
}

void ConvertToFloat32(const uint8_t* data, TensorDType dtype, size_t count,
                      float* out) {
  switch (dtype) {
    case TensorDType::kF32:
      if (count > 0) {
        std::memcpy(out, data, count * sizeof(float));
      }
      return;
    case TensorDType::kF16:
      for (size_t i = 0; i < count; ++i) {
        out[i] = HalfToFloat(LoadU16(data + 2 * i));
      }
      return;
    case TensorDType::kBF16:
      // bfloat16 is the upper half of a float32.
      for (size_t i = 0; i < count; ++i) {
        out[i] =
            BitsToFloat(static_cast<uint32_t>(LoadU16(data + 2 * i)) << 16);
      }
      return;
  }
}

bool AllFinite(absl::Span<const uint8_t> data, TensorDType dtype) {
  const size_t count = data.size() / TensorDTypeSize(dtype);
  switch (dtype) {
    case TensorDType::kF32:
      return AllExponentsFinite<uint32_t, LoadU32>(data.data(), count,
                                                   0x7f800000u);
    case TensorDType::kF16:
      return AllExponentsFinite<uint16_t, LoadU16>(data.data(), count,
                                                   uint16_t{0x7c00});
    case TensorDType::kBF16:
      return AllExponentsFinite<uint16_t, LoadU16>(data.data(), count,
                                                   uint16_t{0x7f80});
  }
  return false;
}

}  // namespace loraplex::engine
