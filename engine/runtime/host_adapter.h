// Internal (includes LibTorch): a validated LoRA adapter as host tensors in
// the model's dtype, ready to be copied into a device slot. Immutable, so
// the host tier can share one copy between the loader and the engine loop.
#ifndef LORAPLEX_ENGINE_RUNTIME_HOST_ADAPTER_H_
#define LORAPLEX_ENGINE_RUNTIME_HOST_ADAPTER_H_

#include <torch/torch.h>

#include <array>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"

namespace loraplex::engine {

struct HostLoraModule {
  int64_t layer = 0;
  LinearKind kind = LinearKind::kQ;
  int64_t rank = 0;
  torch::Tensor a;         // [rank, in_features]
  torch::Tensor b_scaled;  // [out_features, rank], already times the scale
};

class HostAdapter {
 public:
  // Copies every module's weights out of the (mapped) files. The scale is
  // folded into B in float32 before the cast to `dtype`:
  // scale * (x A^T) B^T == (x A^T) (scale B)^T.
  static absl::StatusOr<std::shared_ptr<const HostAdapter>> FromFiles(
      const LoraAdapterFiles& files, torch::Dtype dtype);

  // From tensors already in the model's layout (b_scaled includes the
  // scale), e.g. random adapters for benchmarks and tests.
  static std::shared_ptr<const HostAdapter> FromModules(
      std::vector<HostLoraModule> modules);

  const std::vector<HostLoraModule>& modules() const { return modules_; }
  int64_t max_rank() const { return max_rank_; }
  bool targets(LinearKind kind) const {
    return kinds_[static_cast<int>(kind)];
  }
  uint64_t bytes() const { return bytes_; }

 private:
  void Add(HostLoraModule module);

  std::vector<HostLoraModule> modules_;
  int64_t max_rank_ = 0;
  std::array<bool, kNumLinearKinds> kinds_{};
  uint64_t bytes_ = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_HOST_ADAPTER_H_
