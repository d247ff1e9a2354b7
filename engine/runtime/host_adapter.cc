#include "engine/runtime/host_adapter.h"

#include "engine/runtime/torch_utils.h"

namespace loraplex::engine {

absl::StatusOr<std::shared_ptr<const HostAdapter>> HostAdapter::FromFiles(
    const LoraAdapterFiles& files, torch::Dtype dtype) {
  auto adapter = std::make_shared<HostAdapter>();
  const torch::Device cpu(torch::kCPU);
  try {
    for (const LoraModuleWeights& module : files.modules()) {
      HostLoraModule host;
      host.layer = module.layer;
      host.kind = module.kind;
      host.rank = module.rank;
      host.a = TensorFromBytes(*module.lora_a,
                               files.weights().Data(*module.lora_a), dtype, cpu);
      torch::Tensor b = TensorFromBytes(
          *module.lora_b, files.weights().Data(*module.lora_b),
          torch::kFloat32, cpu);
      host.b_scaled = (b * module.scale).to(dtype).contiguous();
      adapter->Add(std::move(host));
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "copying adapter weights");
  }
  return std::shared_ptr<const HostAdapter>(std::move(adapter));
}

std::shared_ptr<const HostAdapter> HostAdapter::FromModules(
    std::vector<HostLoraModule> modules) {
  auto adapter = std::make_shared<HostAdapter>();
  for (HostLoraModule& module : modules) adapter->Add(std::move(module));
  return adapter;
}

void HostAdapter::Add(HostLoraModule module) {
  bytes_ += module.a.numel() * module.a.element_size() +
            module.b_scaled.numel() * module.b_scaled.element_size();
  max_rank_ = std::max(max_rank_, module.rank);
  kinds_[static_cast<int>(module.kind)] = true;
  modules_.push_back(std::move(module));
}

}  // namespace loraplex::engine
