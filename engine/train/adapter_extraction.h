// `loraplex-train extract`: a PEFT LoRA adapter that approximates a fully
// fine-tuned model as base + low-rank updates. For each targeted linear
// layer, ΔW = W_tuned − W_base is decomposed by a truncated SVD and its top
// K triplets written as B = U_K·√Σ_K, A = √Σ_K·V_Kᵀ at scale 1 (the best
// rank-K approximation, Eckart–Young).
//
// Plain types only (no LibTorch), like trainer.h.
#ifndef LORAPLEX_ENGINE_TRAIN_ADAPTER_EXTRACTION_H_
#define LORAPLEX_ENGINE_TRAIN_ADAPTER_EXTRACTION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loraplex::engine {

enum class SvdMethod {
  // Randomized for a fixed rank on matrices whose smaller side exceeds
  // kRandomizedSvdMinSide; full otherwise (and always for --energy, which
  // needs the whole spectrum).
  kAuto,
  kFull,        // LAPACK's SVD of the whole ΔW.
  kRandomized,  // Subspace iteration (Halko, Martinsson & Tropp 2011).
};
inline constexpr int64_t kRandomizedSvdMinSide = 1024;

struct AdapterExtractionOptions {
  std::string base_dir;   // Hugging Face model directories of the same
  std::string tuned_dir;  // architecture and shapes.
  std::string out_dir;    // Created if needed; its two files replaced.
  // Exactly one of the two, as for compression:
  int64_t rank = 0;   // > 0: every module at min(rank, its dimensions).
  double energy = 0;  // In (0, 1]: per module, the fewest singular values
                      // keeping this fraction of Σσ².
  // Short ("q") or full ("q_proj") names; empty = all seven.
  std::vector<std::string> targets;
  SvdMethod svd = SvdMethod::kAuto;
  uint64_t seed = 1234;  // The randomized method's test matrix.
  // Written to adapter_config.json; defaults to base_dir.
  std::string base_model_name;
};

struct ModuleExtraction {
  int64_t layer = 0;
  std::string module;  // "q_proj", ...
  int64_t rank = 0;
  bool randomized = false;  // Which SVD computed it.
  // 1 − relative_error²; 1 for an unchanged weight.
  double retained_energy = 1;
  // ‖ΔW − B·A‖F / ‖ΔW‖F, measured on the written factors; 0 for an
  // unchanged weight.
  double relative_error = 0;
  uint64_t bytes = 0;  // A and B (float32).
};

struct AdapterExtractionReport {
  std::vector<ModuleExtraction> modules;  // By (layer, module).
  int64_t max_rank = 0;
  double retained_energy = 1;  // Over all modules together.
  double relative_error = 0;
  uint64_t bytes = 0;
  // Weights the tuned model changed that the adapter cannot carry (not
  // targeted linear layers: norms, embeddings, other projections), with
  // ‖W_tuned − W_base‖F / ‖W_base‖F.
  std::vector<std::pair<std::string, double>> changed_untargeted;
};

// INVALID_ARGUMENT for bad options and for models that differ in
// architecture (config.json), tensor names or shapes, naming the first
// difference; the file's error for I/O.
absl::StatusOr<AdapterExtractionReport> ExtractLoraAdapter(
    const AdapterExtractionOptions& options);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_ADAPTER_EXTRACTION_H_
