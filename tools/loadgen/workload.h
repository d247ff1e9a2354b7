// The shape of a load: which adapter each request uses, how long its prompt
// and output are, and when it arrives. Pure and deterministic for a given
// seed, so the load generator's choices are reproducible and testable.
#ifndef LORAPLEX_TOOLS_LOADGEN_WORKLOAD_H_
#define LORAPLEX_TOOLS_LOADGEN_WORKLOAD_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace loraplex::loadgen {

// An inclusive integer range; min == max for a fixed value.
struct IntRange {
  int32_t min = 0;
  int32_t max = 0;

  // Uniform in [min, max].
  int32_t Sample(std::mt19937_64& rng) const;
};

// "16" -> [16, 16]; "8:32" -> [8, 32]. INVALID_ARGUMENT (naming `flag`) for
// anything else, for values < 1, or for min > max.
absl::StatusOr<IntRange> ParseIntRange(absl::string_view text,
                                       absl::string_view flag);

// Picks one of `count` adapters: adapter i (0-based) with probability
// proportional to (i + 1)^-alpha. alpha = 0 is uniform; alpha = 1 is the
// Zipf-like popularity S-LoRA's workloads use, where a few adapters take most
// requests and a long tail is rarely hot.
class AdapterPicker {
 public:
  // `count` >= 1 and `alpha` >= 0 (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<AdapterPicker> Create(size_t count, double alpha);

  size_t Pick(std::mt19937_64& rng) const;
  double Probability(size_t index) const;
  size_t count() const { return cumulative_.size(); }

 private:
  explicit AdapterPicker(std::vector<double> cumulative)
      : cumulative_(std::move(cumulative)) {}

  std::vector<double> cumulative_;  // Normalised; back() == 1.
};

// Open-loop arrivals: a Poisson process at `rate_per_second`, i.e.
// exponentially distributed gaps with mean 1 / rate.
class PoissonArrivals {
 public:
  explicit PoissonArrivals(double rate_per_second)
      : gap_seconds_(rate_per_second) {}
  // The gap before the next arrival.
  absl::Duration NextGap(std::mt19937_64& rng);

 private:
  std::exponential_distribution<double> gap_seconds_;
};

// `length` random token ids in [first_id, vocab_size).
std::vector<int32_t> RandomPromptIds(int32_t length, int32_t vocab_size,
                                     int32_t first_id, std::mt19937_64& rng);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_WORKLOAD_H_
