#include "engine/train/low_rank_factors.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/lora/lora_weight_key.h"
#include "engine/runtime/torch_utils.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

absl::Status AddTensor(SafetensorsWriter& writer, const std::string& name,
                       const torch::Tensor& value, TensorDType dtype) {
  const torch::Tensor stored =
      value.to(torch::kCPU, TorchDtypeOf(dtype)).contiguous();
  std::string bytes(stored.numel() * TensorDTypeSize(dtype), '\0');
  if (!bytes.empty())
    std::memcpy(bytes.data(), stored.data_ptr(), bytes.size());
  return writer.Add(name, dtype, stored.sizes().vec(), std::move(bytes));
}

// Extra columns of the test matrix and power iterations: Halko, Martinsson
// & Tropp's choices for slowly decaying spectra.
constexpr int64_t kOversampling = 10;
constexpr int kPowerIterations = 2;

}  // namespace

absl::Status CheckRankOrEnergy(int64_t rank, double energy) {
  const bool by_rank = rank > 0;
  const bool by_energy = energy != 0;
  if (by_rank == by_energy || rank < 0) {
    return absl::InvalidArgumentError(
        "give exactly one of a rank (>= 1) and an energy fraction in (0, 1]");
  }
  if (by_energy && !(energy > 0 && energy <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the energy fraction must be in (0, 1], not ", energy));
  }
  return absl::OkStatus();
}

Svd FullSvd(const torch::Tensor& m) {
  auto [u, sigma, vh] = torch::linalg_svd(m, /*full_matrices=*/false);
  return {u, sigma, vh};
}

Svd RandomizedSvd(const torch::Tensor& m, int64_t rank, uint64_t seed) {
  const int64_t columns =
      std::min(rank + kOversampling, std::min(m.size(0), m.size(1)));
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  const torch::Tensor omega =
      torch::randn({m.size(1), columns}, generator, m.options());
  torch::Tensor q = std::get<0>(torch::linalg_qr(m.mm(omega)));
  for (int i = 0; i < kPowerIterations; ++i) {
    const torch::Tensor z = std::get<0>(torch::linalg_qr(m.t().mm(q)));
    q = std::get<0>(torch::linalg_qr(m.mm(z)));
  }
  auto [u, sigma, vh] = torch::linalg_svd(q.t().mm(m), /*full_matrices=*/false);
  return {q.mm(u), sigma, vh};
}

int64_t KeptRank(int64_t rank, double energy, const torch::Tensor& sigma) {
  const torch::Tensor values = sigma.to(torch::kFloat64).contiguous();
  const int64_t available = values.numel();
  if (rank > 0) return std::min(rank, available);
  const double* s = values.data_ptr<double>();
  double total = 0;
  for (int64_t i = 0; i < available; ++i) total += s[i] * s[i];
  if (total == 0) return 1;  // A zero update: rank 1 of zeros.
  double kept = 0;
  for (int64_t k = 0; k < available; ++k) {
    kept += s[k] * s[k];
    // A relative slack for rounding: energy 1 keeps every non-zero value.
    if (kept >= energy * total * (1 - 1e-12)) return k + 1;
  }
  return available;
}

LoraFactors SplitTruncatedSvd(const torch::Tensor& u,
                              const torch::Tensor& sigma,
                              const torch::Tensor& vh, int64_t kept) {
  const torch::Tensor root = sigma.slice(0, 0, kept).sqrt();
  LoraFactors factors;
  factors.b = u.slice(1, 0, kept) * root.unsqueeze(0);
  factors.a = root.unsqueeze(1) * vh.slice(0, 0, kept);
  return factors;
}

absl::Status AddLoraFactors(SafetensorsWriter& writer, int64_t layer,
                            LinearKind kind, const LoraFactors& factors,
                            TensorDType dtype) {
  if (absl::Status s = AddTensor(writer, LoraWeightKeyName(layer, kind, true),
                                 factors.a, dtype);
      !s.ok()) {
    return s;
  }
  return AddTensor(writer, LoraWeightKeyName(layer, kind, false), factors.b,
                   dtype);
}

std::string PeftModuleName(int64_t layer, LinearKind kind) {
  return absl::StrCat("model.layers.", layer, ".", LinearKindParent(kind), ".",
                      LinearKindName(kind));
}

std::string ConfigWithModuleRanks(const std::string& config_json,
                                  const std::vector<ModuleRank>& modules) {
  std::map<int64_t, int64_t> modules_by_rank;
  for (const ModuleRank& m : modules) ++modules_by_rank[m.rank];
  int64_t common_rank = 0;
  int64_t most = 0;
  for (const auto& [rank, count] : modules_by_rank) {
    if (count > most) common_rank = rank, most = count;
  }
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(config_json);
  config["r"] = common_rank;
  config["lora_alpha"] = common_rank;
  config["use_rslora"] = false;
  nlohmann::ordered_json ranks = nlohmann::ordered_json::object();
  nlohmann::ordered_json alphas = nlohmann::ordered_json::object();
  for (const ModuleRank& m : modules) {
    if (m.rank == common_rank) continue;
    ranks[PeftModuleName(m.layer, m.kind)] = m.rank;
    alphas[PeftModuleName(m.layer, m.kind)] = m.rank;
  }
  config["rank_pattern"] = ranks;
  config["alpha_pattern"] = alphas;
  return config.dump(2) + "\n";
}

}  // namespace loraplex::engine
