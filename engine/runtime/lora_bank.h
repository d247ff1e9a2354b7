// Internal (includes LibTorch): the device side of the adapter cache.
// Adapters live in slot-indexed stacked tensors, one pair per linear kind:
//   A[kind]: [layers, slots, max_rank, in_features]
//   B[kind]: [layers, slots, out_features, max_rank]  (scale folded in)
// padded with zeros to max_rank, so a batch can gather every row's adapter
// by slot index and apply all of them with two batched matmuls (see
// LlamaModel's LoRA path). Every kind's stack is allocated (zeroed) by the
// constructor, so running out of device memory happens at start-up, never
// while serving; a step skips the kinds none of its adapters target.
#ifndef LORAPLEX_ENGINE_RUNTIME_LORA_BANK_H_
#define LORAPLEX_ENGINE_RUNTIME_LORA_BANK_H_

#include <torch/torch.h>

#include <array>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/runtime/host_adapter.h"

namespace loraplex::engine {

// Owned by the engine loop thread; not thread-safe.
class LoraBank {
 public:
  // Allocates every stack; throws c10::Error when the device is out of
  // memory.
  LoraBank(const ModelConfig& config, int64_t num_slots, int64_t max_rank,
           const torch::Device& device, torch::Dtype dtype);

  int64_t num_slots() const { return num_slots_; }
  int64_t max_rank() const { return max_rank_; }

  // Replaces whatever `slot` held with `adapter` (host -> device copy).
  // Throws c10::Error on device errors; the slot's contents are then
  // undefined until the next successful Load into it.
  void Load(int64_t slot, const HostAdapter& adapter);

  // Rank of the adapter in `slot` (0 when empty).
  int64_t slot_rank(int64_t slot) const { return slot_ranks_[slot]; }
  bool slot_targets(int64_t slot, LinearKind kind) const {
    return slot_kinds_[slot][static_cast<int>(kind)];
  }

  // [slots, max_rank, in] and [slots, out, max_rank] views for one layer.
  torch::Tensor a(LinearKind kind, int64_t layer) const {
    return a_[static_cast<int>(kind)][layer];
  }
  torch::Tensor b(LinearKind kind, int64_t layer) const {
    return b_[static_cast<int>(kind)][layer];
  }

  uint64_t bytes() const;

 private:
  ModelConfig config_;
  int64_t num_slots_;
  int64_t max_rank_;
  torch::TensorOptions options_;
  std::array<torch::Tensor, kNumLinearKinds> a_;
  std::array<torch::Tensor, kNumLinearKinds> b_;
  std::vector<int64_t> slot_ranks_;
  std::vector<std::array<bool, kNumLinearKinds>> slot_kinds_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_LORA_BANK_H_
