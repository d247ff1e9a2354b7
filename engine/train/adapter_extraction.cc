#include "engine/train/adapter_extraction.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/config/model_config.h"
#include "engine/runtime/torch_utils.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/safetensors/safetensors_writer.h"
#include "engine/train/file_util.h"
#include "engine/train/low_rank_factors.h"
#include "engine/train/model_export.h"
#include "engine/train/training_options.h"

namespace loraplex::engine {
namespace {

// Larger matrices are decomposed in float32: a 4096 x 11008 ΔW is 180 MB
// so, 360 MB in float64.
constexpr int64_t kFloat64MaxElements = 16 << 20;

std::string WeightName(int64_t layer, LinearKind kind) {
  return absl::StrCat(PeftModuleName(layer, kind), ".weight");
}

// The architecture fields that decide every weight's meaning.
absl::Status CheckSameArchitecture(const ModelConfig& base,
                                   const ModelConfig& tuned) {
  const auto differ = [](const char* field, const auto& b, const auto& t) {
    return absl::InvalidArgumentError(
        absl::StrCat("the models differ in architecture: ", field, " is ", b,
                     " in the base and ", t, " in the tuned model"));
  };
  if (base.architecture != tuned.architecture) {
    return differ("architectures", base.architecture, tuned.architecture);
  }
#define LORAPLEX_SAME_FIELD(field) \
  if (base.field != tuned.field) return differ(#field, base.field, tuned.field)
  LORAPLEX_SAME_FIELD(model_type);
  LORAPLEX_SAME_FIELD(vocab_size);
  LORAPLEX_SAME_FIELD(hidden_size);
  LORAPLEX_SAME_FIELD(intermediate_size);
  LORAPLEX_SAME_FIELD(num_hidden_layers);
  LORAPLEX_SAME_FIELD(num_attention_heads);
  LORAPLEX_SAME_FIELD(num_key_value_heads);
  LORAPLEX_SAME_FIELD(head_dim);
#undef LORAPLEX_SAME_FIELD
  if (base.tie_word_embeddings != tuned.tie_word_embeddings) {
    return absl::InvalidArgumentError(
        "the models differ in architecture: one ties its word embeddings, "
        "the other does not");
  }
  return absl::OkStatus();
}

absl::Status CheckSameTensors(const SafetensorsCheckpoint& base,
                              const SafetensorsCheckpoint& tuned) {
  const std::vector<std::string> base_names = base.TensorNames();
  const std::vector<std::string> tuned_names = tuned.TensorNames();
  const std::set<std::string> in_base(base_names.begin(), base_names.end());
  const std::set<std::string> in_tuned(tuned_names.begin(), tuned_names.end());
  for (const std::string& name : in_base) {
    if (in_tuned.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the tuned model has no tensor ", name));
    }
    if (base.Find(name)->shape != tuned.Find(name)->shape) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", name, " has different shapes"));
    }
  }
  for (const std::string& name : in_tuned) {
    if (in_base.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the base model has no tensor ", name));
    }
  }
  return absl::OkStatus();
}

torch::Tensor Load(const SafetensorsCheckpoint& checkpoint,
                   const std::string& name, torch::Dtype dtype) {
  const TensorInfo* info = checkpoint.Find(name);
  return TensorFromBytes(*info, checkpoint.Data(*info), dtype, torch::kCPU);
}

bool SameBytes(const SafetensorsCheckpoint& base,
               const SafetensorsCheckpoint& tuned, const std::string& name) {
  const TensorInfo* b = base.Find(name);
  const TensorInfo* t = tuned.Find(name);
  if (b->dtype != t->dtype) return false;
  const absl::Span<const uint8_t> x = base.Data(*b);
  const absl::Span<const uint8_t> y = tuned.Data(*t);
  return x.size() == y.size() &&
         (x.empty() || std::memcmp(x.data(), y.data(), x.size()) == 0);
}

bool UseRandomized(const AdapterExtractionOptions& options,
                   const torch::Tensor& m) {
  switch (options.svd) {
    case SvdMethod::kFull:
      return false;
    case SvdMethod::kRandomized:
      return true;
    case SvdMethod::kAuto:
      break;
  }
  return options.rank > 0 &&
         std::min(m.size(0), m.size(1)) > kRandomizedSvdMinSide;
}

absl::StatusOr<AdapterExtractionReport> ExtractImpl(
    const AdapterExtractionOptions& options) {
  ASSIGN_OR_RETURN(const ModelConfig base_config,
                   LoadModelConfig(options.base_dir));
  ASSIGN_OR_RETURN(const ModelConfig tuned_config,
                   LoadModelConfig(options.tuned_dir));
  RETURN_IF_ERROR(CheckSameArchitecture(base_config, tuned_config));
  std::vector<std::string> target_names = options.targets;
  if (target_names.empty()) {
    for (int k = 0; k < kNumLinearKinds; ++k) {
      target_names.emplace_back(LinearKindName(static_cast<LinearKind>(k)));
    }
  }
  ASSIGN_OR_RETURN(std::vector<LinearKind> targets,
                   ParseLoraTargets(target_names));
  std::sort(targets.begin(), targets.end());
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> base,
                   SafetensorsCheckpoint::Open(options.base_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> tuned,
                   SafetensorsCheckpoint::Open(options.tuned_dir));
  RETURN_IF_ERROR(CheckSameTensors(*base, *tuned));

  AdapterExtractionReport report;
  std::set<std::string> targeted;
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  std::vector<ModuleRank> ranks;
  double total_energy = 0;
  double residual_energy = 0;
  for (int64_t layer = 0; layer < base_config.num_hidden_layers; ++layer) {
    for (LinearKind kind : targets) {
      const std::string name = WeightName(layer, kind);
      if (base->Find(name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("the models have no weight ", name));
      }
      targeted.insert(name);
      const torch::Dtype dtype = base->Find(name)->numel() > kFloat64MaxElements
                                     ? torch::kFloat32
                                     : torch::kFloat64;
      const torch::Tensor delta =
          Load(*tuned, name, dtype) - Load(*base, name, dtype);
      ModuleExtraction m;
      m.layer = layer;
      m.module = LinearKindName(kind);
      m.randomized = UseRandomized(options, delta);
      const Svd svd = m.randomized
                          ? RandomizedSvd(delta, options.rank, options.seed)
                          : [&] {
                              const auto [u, s, vh] = torch::linalg_svd(
                                  delta, /*full_matrices=*/false);
                              return Svd{u, s, vh};
                            }();
      m.rank = KeptRank(options.rank, options.energy, svd.sigma);
      const LoraFactors factors =
          SplitTruncatedSvd(svd.u, svd.sigma, svd.vh, m.rank);
      // The error of what is written (float32), not of the spectrum: exact
      // for either method.
      const torch::Tensor written_a = factors.a.to(torch::kFloat32);
      const torch::Tensor written_b = factors.b.to(torch::kFloat32);
      const double energy = delta.pow(2).sum().item<double>();
      const double residual =
          (delta - written_b.to(dtype).mm(written_a.to(dtype)))
              .pow(2)
              .sum()
              .item<double>();
      if (energy > 0) {
        m.relative_error = std::sqrt(residual / energy);
        m.retained_energy = 1 - residual / energy;
      }
      total_energy += energy;
      residual_energy += energy > 0 ? residual : 0;
      RETURN_IF_ERROR(AddLoraFactors(
          writer, layer, kind, {written_a, written_b}, TensorDType::kF32));
      m.bytes = (written_a.numel() + written_b.numel()) * sizeof(float);
      ranks.push_back({layer, kind, m.rank});
      report.max_rank = std::max(report.max_rank, m.rank);
      report.bytes += m.bytes;
      report.modules.push_back(std::move(m));
    }
  }
  if (total_energy > 0) {
    report.relative_error = std::sqrt(residual_energy / total_energy);
    report.retained_energy = 1 - residual_energy / total_energy;
  }
  for (const std::string& name : base->TensorNames()) {
    if (targeted.count(name) != 0 || SameBytes(*base, *tuned, name)) continue;
    const torch::Tensor b = Load(*base, name, torch::kFloat32);
    const torch::Tensor t = Load(*tuned, name, torch::kFloat32);
    const double change = (t - b).norm().item<double>();
    if (change == 0) continue;  // Same values in another dtype.
    const double norm = b.norm().item<double>();
    report.changed_untargeted.emplace_back(name,
                                           norm > 0 ? change / norm : change);
  }

  PeftAdapterInfo info;
  info.rank = report.max_rank;
  info.alpha = static_cast<double>(report.max_rank);
  info.targets = targets;
  info.base_model_name_or_path = options.base_model_name.empty()
                                     ? options.base_dir
                                     : options.base_model_name;
  RETURN_IF_ERROR(EnsureDirectory(options.out_dir));
  RETURN_IF_ERROR(
      writer.WriteFile(options.out_dir + "/adapter_model.safetensors"));
  RETURN_IF_ERROR(WriteFileAtomically(
      options.out_dir + "/adapter_config.json",
      ConfigWithModuleRanks(PeftAdapterConfigJson(info), ranks)));
  return report;
}

}  // namespace

absl::StatusOr<AdapterExtractionReport> ExtractLoraAdapter(
    const AdapterExtractionOptions& options) {
  RETURN_IF_ERROR(CheckRankOrEnergy(options.rank, options.energy));
  if (options.energy != 0 && options.svd == SvdMethod::kRandomized) {
    return absl::InvalidArgumentError(
        "an energy fraction needs the whole spectrum: use the full SVD");
  }
  if (options.base_dir.empty() || options.tuned_dir.empty() ||
      options.out_dir.empty()) {
    return absl::InvalidArgumentError(
        "the base, tuned and output directories must be given");
  }
  try {
    return ExtractImpl(options);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "extracting the adapter");
  }
}

}  // namespace loraplex::engine
