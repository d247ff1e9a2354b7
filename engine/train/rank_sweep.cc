#include "engine/train/rank_sweep.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/train/adapter_compression.h"

namespace loraplex::engine {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

uint64_t AdapterBytes(const std::string& dir) {
  std::error_code error;
  const uintmax_t size =
      std::filesystem::file_size(dir + "/adapter_model.safetensors", error);
  return error ? 0 : static_cast<uint64_t>(size);
}

}  // namespace

int64_t ChooseRank(const std::vector<RankSweepPoint>& points,
                   double tolerance) {
  if (points.empty()) return 0;
  double best = points.front().perplexity;
  for (const RankSweepPoint& p : points) best = std::min(best, p.perplexity);
  int64_t chosen = 0;
  for (const RankSweepPoint& p : points) {
    if (p.perplexity <= best * (1 + tolerance) &&
        (chosen == 0 || p.rank < chosen)) {
      chosen = p.rank;
    }
  }
  return chosen;
}

absl::StatusOr<RankSweepReport> RunRankSweep(const RankSweepOptions& options,
                                             const ProgressOptions& progress) {
  if (options.ranks.empty()) {
    return absl::InvalidArgumentError("give at least one rank");
  }
  std::vector<int64_t> ranks = options.ranks;
  std::sort(ranks.begin(), ranks.end());
  if (ranks.front() < 1) {
    return absl::InvalidArgumentError("every rank must be at least 1");
  }
  if (std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end()) {
    return absl::InvalidArgumentError("a rank is given twice");
  }
  if (!(options.tolerance >= 0)) {
    return absl::InvalidArgumentError("the tolerance must be >= 0");
  }
  if (options.heldout_files.empty()) {
    return absl::InvalidArgumentError("give the held-out text to score");
  }

  PerplexityOptions eval;
  eval.model_dir = options.base_dir;
  eval.text_files = options.heldout_files;
  eval.seq_len = options.eval_seq_len;
  eval.num_threads = options.training.num_threads;
  RankSweepReport report;
  ASSIGN_OR_RETURN(PerplexityReport base, EvaluatePerplexity(eval));
  report.base_perplexity = base.perplexity;
  report.heldout_tokens = base.tokens;

  for (int64_t rank : ranks) {
    LoraTrainOptions lora;
    lora.base_dir = options.base_dir;
    lora.corpus_files = options.train_files;
    lora.out_dir = absl::StrCat(options.out_dir, "/r", rank);
    lora.rank = rank;
    lora.alpha = options.alpha_per_rank * static_cast<double>(rank);
    lora.targets = options.targets;
    lora.training = options.training;
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(TrainReport trained, TrainLoraAdapter(lora, progress));
    (void)trained;
    RankSweepPoint point;
    point.rank = rank;
    point.seconds = SecondsSince(start);
    eval.adapter_dir = lora.out_dir;
    ASSIGN_OR_RETURN(PerplexityReport scored, EvaluatePerplexity(eval));
    point.perplexity = scored.perplexity;
    point.adapter_bytes = AdapterBytes(lora.out_dir);
    report.trained.push_back(point);
  }
  report.chosen_rank = ChooseRank(report.trained, options.tolerance);
  report.best_rank = ChooseRank(report.trained, 0);

  if (options.compressed_series) {
    const std::string largest =
        absl::StrCat(options.out_dir, "/r", ranks.back());
    for (int64_t rank : ranks) {
      AdapterCompressionOptions compress;
      compress.adapter_dir = largest;
      compress.out_dir = absl::StrCat(options.out_dir, "/compressed-r", rank);
      compress.rank = rank;
      const auto start = std::chrono::steady_clock::now();
      RETURN_IF_ERROR(CompressLoraAdapter(compress).status());
      RankSweepPoint point;
      point.rank = rank;
      point.seconds = SecondsSince(start);
      eval.adapter_dir = compress.out_dir;
      ASSIGN_OR_RETURN(PerplexityReport scored, EvaluatePerplexity(eval));
      point.perplexity = scored.perplexity;
      point.adapter_bytes = AdapterBytes(compress.out_dir);
      report.compressed.push_back(point);
    }
  }
  return report;
}

}  // namespace loraplex::engine
