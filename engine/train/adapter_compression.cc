#include "engine/train/adapter_compression.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_weight_key.h"
#include "engine/runtime/torch_utils.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/train/file_util.h"
#include "engine/train/low_rank_factors.h"

namespace loraplex::engine {
namespace {

struct ModuleTensors {
  const TensorInfo* a = nullptr;  // [r, in]
  const TensorInfo* b = nullptr;  // [out, r]
};

// Pairs every lora_A with its lora_B, checking each key and shape against
// what `config` resolves for the module.
absl::StatusOr<std::map<std::pair<int64_t, LinearKind>, ModuleTensors>>
PairModules(const LoraAdapterConfig& config, const SafetensorsFile& weights) {
  std::map<std::pair<int64_t, LinearKind>, ModuleTensors> modules;
  for (const TensorInfo& tensor : weights.tensors()) {
    ASSIGN_OR_RETURN(LoraWeightKey key, ParseLoraWeightKey(tensor.name));
    ModuleTensors& module = modules[{key.layer, key.kind}];
    (key.is_a ? module.a : module.b) = &tensor;
  }
  if (modules.empty()) {
    return absl::InvalidArgumentError(
        "adapter_model.safetensors holds no LoRA tensors");
  }
  for (const auto& [where, module] : modules) {
    const auto [layer, kind] = where;
    const std::string name = PeftModuleName(layer, kind);
    if (module.a == nullptr || module.b == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " has lora_", module.a == nullptr ? "B" : "A",
                       " but no lora_", module.a == nullptr ? "A" : "B"));
    }
    const LoraModuleSpec spec = ResolveLoraModule(config, layer, kind);
    if (!spec.targeted) {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          " has LoRA tensors but adapter_config.json does not target "
          "it"));
    }
    const std::vector<int64_t>& a = module.a->shape;
    const std::vector<int64_t>& b = module.b->shape;
    if (a.size() != 2 || b.size() != 2 || a[0] != spec.rank ||
        b[1] != spec.rank || a[1] <= 0 || b[0] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": lora_A and lora_B must be [", spec.rank, ", in] and [out, ",
          spec.rank, "] (the rank adapter_config.json gives it)"));
    }
  }
  return modules;
}

struct CompressedModule {
  torch::Tensor a;  // [K, in], scale 1
  torch::Tensor b;  // [out, K]
  double total_energy = 0;
  double dropped_energy = 0;
};

CompressedModule Compress(const AdapterCompressionOptions& options,
                          const torch::Tensor& a, const torch::Tensor& b,
                          double scale) {
  // Float64 throughout: the factors are small, and the core's SVD is then
  // exact to far below the input's own precision.
  const auto [q_b, r_b] = torch::linalg_qr(b);         // [out, m1], [m1, r]
  const auto [q_a, r_a] = torch::linalg_qr(a.t());     // [in, m2], [m2, r]
  const torch::Tensor core = scale * r_b.mm(r_a.t());  // [m1, m2]
  const auto [u, sigma, vh] = torch::linalg_svd(core, /*full_matrices=*/false);
  const int64_t kept = KeptRank(options.rank, options.energy, sigma);
  CompressedModule out;
  const torch::Tensor energy = sigma.pow(2);
  out.total_energy = energy.sum().item<double>();
  out.dropped_energy = energy.slice(0, kept).sum().item<double>();
  const LoraFactors factors = SplitTruncatedSvd(u, sigma, vh, kept);
  out.b = q_b.mm(factors.b);
  out.a = factors.a.mm(q_a.t());
  return out;
}

absl::StatusOr<AdapterCompressionReport> CompressImpl(
    const AdapterCompressionOptions& options) {
  const std::string config_path = options.adapter_dir + "/adapter_config.json";
  ASSIGN_OR_RETURN(std::string config_json, ReadFileToString(config_path));
  absl::StatusOr<LoraAdapterConfig> config =
      ParseLoraAdapterConfig(config_json);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path, ": ", config.status().message()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> weights,
                   SafetensorsFile::Open(options.adapter_dir +
                                         "/adapter_model.safetensors"));
  auto paired = PairModules(*config, *weights);
  if (!paired.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.adapter_dir,
        "/adapter_model.safetensors: ", paired.status().message()));
  }

  AdapterCompressionReport report;
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  double total_energy = 0;
  double dropped_energy = 0;
  std::vector<ModuleRank> ranks;
  for (const auto& [where, tensors] : *paired) {
    const auto [layer, kind] = where;
    const LoraModuleSpec spec = ResolveLoraModule(*config, layer, kind);
    const torch::Tensor a = TensorFromBytes(
        *tensors.a, weights->Data(*tensors.a), torch::kFloat64, torch::kCPU);
    const torch::Tensor b = TensorFromBytes(
        *tensors.b, weights->Data(*tensors.b), torch::kFloat64, torch::kCPU);
    const CompressedModule compressed = Compress(options, a, b, spec.scale);
    const TensorDType dtype = tensors.a->dtype;
    RETURN_IF_ERROR(AddLoraFactors(writer, layer, kind,
                                   {compressed.a, compressed.b}, dtype));
    ranks.push_back({layer, kind, compressed.a.size(0)});

    ModuleCompression m;
    m.layer = layer;
    m.module = LinearKindName(kind);
    m.rank_in = spec.rank;
    m.rank_out = compressed.a.size(0);
    if (compressed.total_energy > 0) {
      m.retained_energy =
          1 - compressed.dropped_energy / compressed.total_energy;
      m.relative_error =
          std::sqrt(compressed.dropped_energy / compressed.total_energy);
    }
    m.bytes_in = tensors.a->nbytes + tensors.b->nbytes;
    m.bytes_out =
        (compressed.a.numel() + compressed.b.numel()) * TensorDTypeSize(dtype);
    total_energy += compressed.total_energy;
    dropped_energy += compressed.dropped_energy;
    report.max_rank_in = std::max(report.max_rank_in, m.rank_in);
    report.max_rank_out = std::max(report.max_rank_out, m.rank_out);
    report.bytes_in += m.bytes_in;
    report.bytes_out += m.bytes_out;
    report.modules.push_back(std::move(m));
  }
  if (total_energy > 0) {
    report.retained_energy = 1 - dropped_energy / total_energy;
    report.relative_error = std::sqrt(dropped_energy / total_energy);
  }

  RETURN_IF_ERROR(EnsureDirectory(options.out_dir));
  RETURN_IF_ERROR(
      writer.WriteFile(options.out_dir + "/adapter_model.safetensors"));
  RETURN_IF_ERROR(
      WriteFileAtomically(options.out_dir + "/adapter_config.json",
                          ConfigWithModuleRanks(config_json, ranks)));
  return report;
}

}  // namespace

absl::StatusOr<AdapterCompressionReport> CompressLoraAdapter(
    const AdapterCompressionOptions& options) {
  RETURN_IF_ERROR(CheckRankOrEnergy(options.rank, options.energy));
  if (options.adapter_dir.empty() || options.out_dir.empty()) {
    return absl::InvalidArgumentError(
        "the adapter and output directories "
        "must be given");
  }
  try {
    return CompressImpl(options);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "compressing the adapter");
  }
}

}  // namespace loraplex::engine
