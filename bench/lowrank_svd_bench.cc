// Full vs randomized truncated SVD of one large weight update, the choice
// `loraplex-train extract --svd auto` makes (engine/train/low_rank_factors).
//   lowrank_svd_bench [--rows 4096] [--cols 11008] [--ranks 16,64]
//                     [--threads N]
// The matrix is what fine-tuning leaves: a decaying spectrum (σ_i = 1/√i
// on a random basis, rank 256) plus dense noise of 2e-5 per entry (about 5 % of
// its norm at 4096 x 11008). Prints JSON: seconds of the full SVD and of the
// randomized one per rank, and each one's relative Frobenius error against the
// optimum (the full SVD's truncation).
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/train/low_rank_factors.h"
#include "nlohmann/json.hpp"

namespace {

using loraplex::engine::FullSvd;
using loraplex::engine::RandomizedSvd;
using loraplex::engine::Svd;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

double ErrorOfTruncation(const torch::Tensor& m, const Svd& svd, int64_t k) {
  const torch::Tensor approx =
      (svd.u.slice(1, 0, k) * svd.sigma.slice(0, 0, k).unsqueeze(0))
          .mm(svd.vh.slice(0, 0, k));
  return ((m - approx).norm() / m.norm()).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 4096, cols = 11008, threads = 0;
  std::vector<int64_t> ranks = {16, 64};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    bool ok = true;
    if (flag == "--rows") {
      ok = absl::SimpleAtoi(value, &rows);
    } else if (flag == "--cols") {
      ok = absl::SimpleAtoi(value, &cols);
    } else if (flag == "--threads") {
      ok = absl::SimpleAtoi(value, &threads);
    } else if (flag == "--ranks") {
      ranks.clear();
      for (absl::string_view r : absl::StrSplit(value, ',')) {
        int64_t rank = 0;
        ok = ok && absl::SimpleAtoi(r, &rank) && rank > 0;
        ranks.push_back(rank);
      }
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "lowrank_svd_bench: bad flag %s %s\n", flag.c_str(),
                   value.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(1);
  const int64_t basis = 256;
  const torch::Tensor left =
      std::get<0>(torch::linalg_qr(torch::randn({rows, basis})));
  const torch::Tensor right =
      std::get<0>(torch::linalg_qr(torch::randn({cols, basis})));
  const torch::Tensor sigma =
      torch::arange(1, basis + 1, torch::kFloat32).rsqrt();
  const torch::Tensor m = (left * sigma.unsqueeze(0)).mm(right.t()) +
                          2e-5 * torch::randn({rows, cols});

  nlohmann::json out = {{"rows", rows},
                        {"cols", cols},
                        {"dtype", "float32"},
                        {"threads", torch::get_num_threads()}};
  auto start = std::chrono::steady_clock::now();
  const Svd full = FullSvd(m);
  out["full_seconds"] = Seconds(start);
  nlohmann::json per_rank = nlohmann::json::array();
  for (int64_t k : ranks) {
    start = std::chrono::steady_clock::now();
    const Svd randomized = RandomizedSvd(m, k, 1234);
    const double seconds = Seconds(start);
    per_rank.push_back(
        {{"rank", k},
         {"randomized_seconds", seconds},
         {"optimal_relative_error", ErrorOfTruncation(m, full, k)},
         {"randomized_relative_error", ErrorOfTruncation(m, randomized, k)}});
  }
  out["ranks"] = per_rank;
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
