#include "engine/runtime/lora_bank.h"

namespace loraplex::engine {

LoraBank::LoraBank(const ModelConfig& config, int64_t num_slots,
                   int64_t max_rank, const torch::Device& device,
                   torch::Dtype dtype)
    : config_(config),
      num_slots_(num_slots),
      max_rank_(max_rank),
      options_(torch::TensorOptions().device(device).dtype(dtype)),
      slot_ranks_(num_slots, 0),
      slot_kinds_(num_slots) {
  const int64_t layers = config_.num_hidden_layers;
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearShape shape =
        LinearShapeOf(config_, static_cast<LinearKind>(k));
    a_[k] = torch::zeros({layers, num_slots_, max_rank_, shape.in_features},
                         options_);
    b_[k] = torch::zeros({layers, num_slots_, shape.out_features, max_rank_},
                         options_);
  }
}

void LoraBank::Load(int64_t slot, const HostAdapter& adapter) {
  // Zero the slot for every kind: modules the new adapter does not adapt
  // must contribute nothing, and padding ranks must be zero.
  for (int k = 0; k < kNumLinearKinds; ++k) {
    a_[k].select(1, slot).zero_();
    b_[k].select(1, slot).zero_();
  }
  for (const HostLoraModule& module : adapter.modules()) {
    const int k = static_cast<int>(module.kind);
    a_[k][module.layer][slot].narrow(0, 0, module.rank).copy_(module.a);
    b_[k][module.layer][slot].narrow(1, 0, module.rank).copy_(module.b_scaled);
  }
  slot_ranks_[slot] = adapter.max_rank();
  for (int k = 0; k < kNumLinearKinds; ++k) {
    slot_kinds_[slot][k] = adapter.targets(static_cast<LinearKind>(k));
  }
}

uint64_t LoraBank::bytes() const {
  uint64_t total = 0;
  for (int k = 0; k < kNumLinearKinds; ++k) {
    total += (a_[k].numel() + b_[k].numel()) * a_[k].element_size();
  }
  return total;
}

}  // namespace loraplex::engine
