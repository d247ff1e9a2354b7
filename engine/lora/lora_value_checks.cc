#include "engine/lora/lora_value_checks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace loraplex::engine {
namespace {

constexpr double kFloatMax = std::numeric_limits<float>::max();

struct ValueStats {
  bool all_finite = true;
  double sum_of_squares = 0;  // In double: cannot overflow for float inputs.
  double max_abs = 0;
};

// One pass over the tensor's values, converted to float32 in chunks.
ValueStats StatsOf(const TensorInfo& tensor, const SafetensorsFile& weights) {
  ValueStats stats;
  const absl::Span<const uint8_t> data = weights.Data(tensor);
  const size_t element_bytes = TensorDTypeSize(tensor.dtype);
  const size_t count = data.size() / element_bytes;
  constexpr size_t kChunk = 4096;
  std::vector<float> values(std::min(count, kChunk));
  for (size_t start = 0; start < count; start += kChunk) {
    const size_t n = std::min(kChunk, count - start);
    ConvertToFloat32(data.data() + start * element_bytes, tensor.dtype, n,
                     values.data());
    for (size_t i = 0; i < n; ++i) {
      const double v = values[i];
      if (!std::isfinite(v)) {
        stats.all_finite = false;
        return stats;
      }
      stats.sum_of_squares += v * v;
      stats.max_abs = std::max(stats.max_abs, std::abs(v));
    }
  }
  return stats;
}

std::string Shown(double value) { return absl::StrFormat("%.4g", value); }

}  // namespace

absl::Status CheckLoraModuleValues(const std::string& module,
                                   const LoraModuleSpec& spec, bool use_rslora,
                                   const TensorInfo& lora_a,
                                   const TensorInfo& lora_b,
                                   const SafetensorsFile& weights,
                                   double max_update_norm) {
  const ValueStats a = StatsOf(lora_a, weights);
  const ValueStats b = StatsOf(lora_b, weights);
  if (!a.all_finite || !b.all_finite) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", (a.all_finite ? lora_b : lora_a).name,
                     "' contains NaN or Inf"));
  }
  const double scale = std::abs(spec.scale);
  if (!(scale <= kFloatMax)) {
    return absl::InvalidArgumentError(absl::StrCat(
        module, ": scale ", Shown(spec.scale), " (lora_alpha ",
        Shown(spec.alpha), use_rslora ? " / sqrt(r " : " / r ", spec.rank,
        use_rslora ? ")" : "", ") is not finite in float32"));
  }
  if (!(scale * b.max_abs <= kFloatMax)) {
    return absl::InvalidArgumentError(absl::StrCat(
        module, ": scale x lora_B reaches ", Shown(scale * b.max_abs),
        ", which is not finite in float32"));
  }
  const double update_bound =
      scale * std::sqrt(b.sum_of_squares) * std::sqrt(a.sum_of_squares);
  if (!(update_bound <= max_update_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat(module,
                     ": the LoRA update's size, scale x ||lora_B||_F x "
                     "||lora_A||_F = ",
                     Shown(update_bound), ", exceeds this server's limit of ",
                     Shown(max_update_norm)));
  }
  return absl::OkStatus();
}

}  // namespace loraplex::engine
