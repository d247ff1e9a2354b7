// `loraplex-train compress`: a PEFT LoRA adapter rewritten at a lower rank
// by truncated SVD, without ever forming a module's dense update.
//
// For a module with update ΔW = s·B·A (B [out, r], A [r, in], s its scale),
// B = Q_B·R_B and Aᵀ = Q_A·R_A (thin QR) give ΔW = Q_B·(s·R_B·R_Aᵀ)·Q_Aᵀ, so
// the SVD of the small r×r core, U·Σ·Vᵀ, is the SVD of ΔW with singular
// vectors Q_B·U and Q_A·V. Keeping the top K triplets and writing
// B' = Q_B·U_K·√Σ_K and A' = √Σ_K·V_Kᵀ·Q_Aᵀ at scale 1 (alpha = rank) gives
// the best rank-K approximation of ΔW in Frobenius and spectral norm
// (Eckart–Young). Cost per module: O((out + in)·r²), never O(out·in).
//
// Plain types only (no LibTorch), like trainer.h.
#ifndef LORAPLEX_ENGINE_TRAIN_ADAPTER_COMPRESSION_H_
#define LORAPLEX_ENGINE_TRAIN_ADAPTER_COMPRESSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace loraplex::engine {

struct AdapterCompressionOptions {
  std::string adapter_dir;  // A PEFT LoRA directory.
  std::string out_dir;      // Created if needed; its two files replaced.
  // Exactly one of the two:
  // > 0: every module to min(rank, its rank and dimensions).
  int64_t rank = 0;
  // In (0, 1]: per module, the smallest rank whose singular values keep
  // this fraction of the update's energy (Σσ²); PEFT's rank_pattern and
  // alpha_pattern carry the per-module ranks.
  double energy = 0;
};

struct ModuleCompression {
  int64_t layer = 0;
  std::string module;  // "q_proj", ...
  int64_t rank_in = 0;
  int64_t rank_out = 0;
  // Σ kept σ² / Σ σ²; 1 for a zero update.
  double retained_energy = 1;
  // ‖ΔW − ΔW'‖F / ‖ΔW‖F = √(1 − retained_energy); 0 for a zero update.
  double relative_error = 0;
  uint64_t bytes_in = 0;  // A and B, in the adapter's own dtype.
  uint64_t bytes_out = 0;
};

struct AdapterCompressionReport {
  std::vector<ModuleCompression> modules;  // By (layer, module).
  int64_t max_rank_in = 0;
  int64_t max_rank_out = 0;
  // Over all modules together: Σ kept σ² / Σ σ², and the relative
  // Frobenius error of the whole update (all modules' ΔW stacked).
  double retained_energy = 1;
  double relative_error = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// Reads `options.adapter_dir` (adapter_config.json must parse as for the
// server; every lora_A/lora_B pair must have the rank the config resolves
// for its module), compresses every module and writes a PEFT LoRA
// directory that Loraplex and PEFT load: the input's config with r,
// lora_alpha, use_rslora = false, rank_pattern and alpha_pattern replaced,
// and adapter_model.safetensors in the input's dtype. INVALID_ARGUMENT for
// bad options or an adapter that does not parse; the file's error for I/O.
absl::StatusOr<AdapterCompressionReport> CompressLoraAdapter(
    const AdapterCompressionOptions& options);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_ADAPTER_COMPRESSION_H_
