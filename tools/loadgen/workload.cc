#include "tools/loadgen/workload.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace loraplex::loadgen {

int32_t IntRange::Sample(std::mt19937_64& rng) const {
  if (min == max) return min;
  return std::uniform_int_distribution<int32_t>(min, max)(rng);
}

absl::StatusOr<IntRange> ParseIntRange(absl::string_view text,
                                       absl::string_view flag) {
  const auto error = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag,
                     " must be N or MIN:MAX with 1 <= MIN <= MAX "
                     "(got '",
                     text, "')"));
  };
  IntRange range;
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    if (!absl::SimpleAtoi(text, &range.min)) return error();
    range.max = range.min;
  } else if (!absl::SimpleAtoi(text.substr(0, colon), &range.min) ||
             !absl::SimpleAtoi(text.substr(colon + 1), &range.max)) {
    return error();
  }
  if (range.min < 1 || range.min > range.max) return error();
  return range;
}

absl::StatusOr<AdapterPicker> AdapterPicker::Create(size_t count,
                                                    double alpha) {
  if (count == 0) {
    return absl::InvalidArgumentError("the workload has no adapters to pick");
  }
  if (!std::isfinite(alpha) || alpha < 0) {
    return absl::InvalidArgumentError("--alpha must be a number >= 0");
  }
  std::vector<double> cumulative(count);
  double total = 0;
  for (size_t i = 0; i < count; ++i) {
    total += std::pow(static_cast<double>(i + 1), -alpha);
    cumulative[i] = total;
  }
  for (double& c : cumulative) c /= total;
  cumulative.back() = 1.0;  // No rounding gap at the top.
  return AdapterPicker(std::move(cumulative));
}

size_t AdapterPicker::Pick(std::mt19937_64& rng) const {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  return std::min(static_cast<size_t>(it - cumulative_.begin()),
                  cumulative_.size() - 1);
}

double AdapterPicker::Probability(size_t index) const {
  return index == 0 ? cumulative_[0]
                    : cumulative_[index] - cumulative_[index - 1];
}

absl::Duration PoissonArrivals::NextGap(std::mt19937_64& rng) {
  return absl::Seconds(gap_seconds_(rng));
}

std::vector<int32_t> RandomPromptIds(int32_t length, int32_t vocab_size,
                                     int32_t first_id, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> id(first_id, vocab_size - 1);
  std::vector<int32_t> ids(static_cast<size_t>(length));
  for (int32_t& value : ids) value = id(rng);
  return ids;
}

}  // namespace loraplex::loadgen
