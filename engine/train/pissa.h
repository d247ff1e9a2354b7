// Internal (includes LibTorch): PiSSA initialisation (Meng, Wang & Zhang,
// "PiSSA: Principal Singular Values and Singular Vectors Adaptation of
// Large Language Models", 2024) and its export as a LoRA of the unchanged
// base.
//
// PiSSA starts the LoRA factors at the principal part of each target
// weight, W = U·Σ·Vᵀ: s·B₀·A₀ = U_r·Σ_r·V_rᵀ, and freezes the residual
// W − s·B₀·A₀ in the layer, so the model is unchanged at step 0 and
// training moves the directions that matter most. A server shares one
// frozen base across tenants, so the trained model W_res + s·B_t·A_t is
// written as an update of the original W:
//   ΔW = s·(B_t·A_t − B₀·A₀) = s·[B_t, −B₀]·[A_t; A₀],
// an exact LoRA of rank 2r at the same scale (alpha doubled with r).
#ifndef LORAPLEX_ENGINE_TRAIN_PISSA_H_
#define LORAPLEX_ENGINE_TRAIN_PISSA_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/config/model_config.h"
#include "engine/train/low_rank_factors.h"
#include "engine/train/model_export.h"
#include "engine/train/train_model.h"

namespace loraplex::engine {

// The factors each module started from, float32, by (layer, kind).
struct PissaStart {
  std::map<std::pair<int64_t, LinearKind>, LoraFactors> factors;
  int64_t randomized_modules = 0;  // Modules whose SVD was randomized.
};

// For every decoder layer's linear of `kinds` (each must have its LoRA
// branch attached, of rank r): sets A and B to the top-r singular triplets
// of its weight divided evenly between them (B₀ = U_r·√(Σ_r/s),
// A₀ = √(Σ_r/s)·V_rᵀ) and replaces the weight with the residual. The SVD
// is LAPACK's full one, or randomized (seeded by `seed`) when the smaller
// side exceeds kRandomizedSvdMinSide, as for `extract`; either way the
// residual is computed from the stored factors, so the model's function is
// unchanged up to float32 rounding. INVALID_ARGUMENT when r exceeds a
// weight's smaller side.
absl::StatusOr<PissaStart> InitializePissa(LlamaTrainModel& model,
                                           const std::vector<LinearKind>& kinds,
                                           uint64_t seed);

// Writes the trained model as a PEFT LoRA of the original base (see above):
// rank 2·info.rank, lora_alpha 2·info.alpha. `info` describes the training
// branches (rank r, alpha).
absl::Status WritePissaAdapterDir(LlamaTrainModel& model,
                                  const PissaStart& start,
                                  const PeftAdapterInfo& info,
                                  const std::string& out_dir);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_PISSA_H_
