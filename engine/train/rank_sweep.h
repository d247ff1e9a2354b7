// `loraplex-train rank-sweep`: choosing a LoRA rank by held-out
// evaluation. One adapter is trained per rank with the same data, seed,
// steps and scale (alpha = alpha_per_rank · r, so every rank starts from
// the same effective learning rate), each scored by held-out perplexity
// through the inference engine; optionally the largest rank's adapter is
// also compressed to every smaller rank (adapter_compression.h) and scored.
// The chosen rank is the smallest whose perplexity is within `tolerance` of
// the best.
//
// Plain types only (no LibTorch), like trainer.h.
#ifndef LORAPLEX_ENGINE_TRAIN_RANK_SWEEP_H_
#define LORAPLEX_ENGINE_TRAIN_RANK_SWEEP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/train/trainer.h"
#include "engine/train/training_progress.h"

namespace loraplex::engine {

struct RankSweepOptions {
  std::string base_dir;
  std::vector<std::string> train_files;
  std::vector<std::string> heldout_files;
  std::vector<int64_t> ranks = {1, 2, 4, 8, 16, 32, 64};
  double alpha_per_rank = 2;
  std::vector<std::string> targets = {"q", "k", "v", "o"};
  TrainingOptions training;
  bool compressed_series = false;
  double tolerance = 0.01;  // Relative: perplexity <= best · (1 + tolerance).
  int64_t eval_seq_len = 128;
  std::string out_dir;  // Adapters go to <out>/r<rank>/ and
                        // <out>/compressed-r<rank>/.
};

struct RankSweepPoint {
  int64_t rank = 0;
  double perplexity = 0;
  uint64_t adapter_bytes = 0;  // adapter_model.safetensors.
  double seconds = 0;          // Training (or compression) time.
};

struct RankSweepReport {
  double base_perplexity = 0;
  int64_t heldout_tokens = 0;
  std::vector<RankSweepPoint> trained;     // By rank.
  std::vector<RankSweepPoint> compressed;  // By rank; empty unless asked.
  int64_t best_rank = 0;    // Lowest perplexity among the trained.
  int64_t chosen_rank = 0;  // Smallest trained rank within tolerance.
};

// The smallest rank whose perplexity is at most the best's · (1 +
// tolerance); 0 for no points.
int64_t ChooseRank(const std::vector<RankSweepPoint>& points, double tolerance);

// INVALID_ARGUMENT for no ranks, a rank < 1, repeated ranks, a negative
// tolerance or no held-out files; training and evaluation errors as their
// functions return them.
absl::StatusOr<RankSweepReport> RunRankSweep(const RankSweepOptions& options,
                                             const ProgressOptions& progress);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_RANK_SWEEP_H_
