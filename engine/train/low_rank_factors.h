// Internal (includes LibTorch): what `compress` and `extract` share —
// choosing a rank from singular values, splitting a truncated SVD into
// LoRA factors, writing them under PEFT's names, and PEFT's per-module
// rank/alpha patterns.
#ifndef LORAPLEX_ENGINE_TRAIN_LOW_RANK_FACTORS_H_
#define LORAPLEX_ENGINE_TRAIN_LOW_RANK_FACTORS_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/config/model_config.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/safetensors/safetensors_writer.h"

namespace loraplex::engine {

// A thin SVD, m = u·diag(sigma)·vh, sigma descending.
struct Svd {
  torch::Tensor u;      // [out, k]
  torch::Tensor sigma;  // [k]
  torch::Tensor vh;     // [k, in]
};
// LAPACK's, of the whole matrix.
Svd FullSvd(const torch::Tensor& m);
// The top `rank` triplets (approximately; more columns come back) by
// subspace iteration: an orthonormal basis Q of m·Ω (Ω Gaussian from
// `seed`, rank + 10 columns) refined by 2 power iterations, then the exact
// SVD of the small Qᵀ·m (Halko, Martinsson & Tropp 2011).
Svd RandomizedSvd(const torch::Tensor& m, int64_t rank, uint64_t seed);

// Exactly one of `rank` (>= 1) and `energy` (in (0, 1]) is set; else
// INVALID_ARGUMENT. The options of compress and extract.
absl::Status CheckRankOrEnergy(int64_t rank, double energy);

// How many singular values to keep: min(rank, available) when rank > 0,
// else the fewest whose squares reach `energy` of the total (1 for an
// all-zero spectrum). `sigma` is descending.
int64_t KeptRank(int64_t rank, double energy, const torch::Tensor& sigma);

// The top `kept` triplets of an SVD U·diag(sigma)·Vh as LoRA factors at
// scale 1: b = U_K·√Σ_K [out, K], a = √Σ_K·Vh_K [K, in].
struct LoraFactors {
  torch::Tensor a;
  torch::Tensor b;
};
LoraFactors SplitTruncatedSvd(const torch::Tensor& u,
                              const torch::Tensor& sigma,
                              const torch::Tensor& vh, int64_t kept);

// Adds the module's lora_A and lora_B under PEFT's names, stored as `dtype`.
absl::Status AddLoraFactors(SafetensorsWriter& writer, int64_t layer,
                            LinearKind kind, const LoraFactors& factors,
                            TensorDType dtype);

// "model.layers.<layer>.<parent>.<kind>": the name PEFT matches
// rank_pattern and alpha_pattern keys against.
std::string PeftModuleName(int64_t layer, LinearKind kind);

struct ModuleRank {
  int64_t layer = 0;
  LinearKind kind = LinearKind::kQ;
  int64_t rank = 0;
};
// `config_json` (a PEFT LoRA config) for factors at scale 1: the most
// common rank as r, lora_alpha = r, no rsLoRA, and every other module's
// rank (and equal alpha) in rank_pattern / alpha_pattern.
std::string ConfigWithModuleRanks(const std::string& config_json,
                                  const std::vector<ModuleRank>& modules);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_LOW_RANK_FACTORS_H_
