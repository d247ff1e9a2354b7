#include "engine/train/pissa.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/safetensors/safetensors_writer.h"
#include "engine/train/adapter_extraction.h"
#include "engine/train/file_util.h"

namespace loraplex::engine {

absl::StatusOr<PissaStart> InitializePissa(LlamaTrainModel& model,
                                           const std::vector<LinearKind>& kinds,
                                           uint64_t seed) {
  torch::NoGradGuard no_grad;
  PissaStart start;
  for (int64_t layer = 0; layer < model->config().num_hidden_layers; ++layer) {
    for (LinearKind kind : kinds) {
      LoraLinear linear = model->linear(layer, kind);
      if (!linear->has_lora()) {
        return absl::FailedPreconditionError(
            absl::StrCat(PeftModuleName(layer, kind), " has no LoRA branch"));
      }
      const int64_t rank = linear->lora_a_weight().size(0);
      // float64 for the decomposition and the residual: the residual then
      // carries a single float32 rounding.
      const torch::Tensor w = linear->weight.detach().to(torch::kFloat64);
      const int64_t side = std::min(w.size(0), w.size(1));
      if (rank > side) {
        return absl::InvalidArgumentError(absl::StrCat(
            "PiSSA takes r singular directions of each target weight; --rank ",
            rank, " exceeds ", PeftModuleName(layer, kind), "'s ", w.size(0),
            " x ", w.size(1)));
      }
      const bool randomized = side > kRandomizedSvdMinSide;
      const Svd svd = randomized ? RandomizedSvd(w, rank, seed) : FullSvd(w);
      start.randomized_modules += randomized ? 1 : 0;
      const double scale = linear->lora_scale();
      const LoraFactors exact =
          SplitTruncatedSvd(svd.u, svd.sigma / scale, svd.vh, rank);
      LoraFactors stored{exact.a.to(torch::kFloat32),
                         exact.b.to(torch::kFloat32)};
      const torch::Tensor principal =
          scale * stored.b.to(torch::kFloat64).mm(stored.a.to(torch::kFloat64));
      linear->weight.copy_(w - principal);
      linear->lora_a_weight().copy_(stored.a);
      linear->lora_b_weight().copy_(stored.b);
      start.factors[{layer, kind}] = std::move(stored);
    }
  }
  return start;
}

absl::Status WritePissaAdapterDir(LlamaTrainModel& model,
                                  const PissaStart& start,
                                  const PeftAdapterInfo& info,
                                  const std::string& out_dir) {
  torch::NoGradGuard no_grad;
  RETURN_IF_ERROR(EnsureDirectory(out_dir));
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  for (const auto& [where, initial] : start.factors) {
    LoraLinear linear = model->linear(where.first, where.second);
    LoraFactors update;
    update.a = torch::cat({linear->lora_a_weight().detach(), initial.a}, 0);
    update.b = torch::cat({linear->lora_b_weight().detach(), -initial.b}, 1);
    RETURN_IF_ERROR(AddLoraFactors(writer, where.first, where.second, update,
                                   TensorDType::kF32));
  }
  RETURN_IF_ERROR(writer.WriteFile(out_dir + "/adapter_model.safetensors"));
  PeftAdapterInfo doubled = info;
  doubled.rank = 2 * info.rank;
  doubled.alpha = 2 * info.alpha;  // The same scale alpha / r.
  return WriteFileAtomically(out_dir + "/adapter_config.json",
                             PeftAdapterConfigJson(doubled));
}

}  // namespace loraplex::engine
