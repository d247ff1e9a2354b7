#include "engine/runtime/kv_cache.h"

#include <algorithm>

namespace loraplex::engine {

KvCache::KvCache(const ModelConfig& config, int64_t num_slots,
                 int64_t max_seq_len, const torch::Device& device,
                 torch::Dtype dtype)
    : num_slots_(num_slots), max_seq_len_(max_seq_len) {
  auto options = torch::TensorOptions().device(device).dtype(dtype);
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    keys_.push_back(torch::zeros({num_slots, max_seq_len,
                                  config.num_key_value_heads, config.head_dim},
                                 options));
    values_.push_back(torch::zeros_like(keys_.back()));
  }
  for (int64_t slot = num_slots - 1; slot >= 0; --slot) free_.push_back(slot);
}

std::optional<int64_t> KvCache::Allocate() {
  if (free_.empty()) return std::nullopt;
  int64_t slot = free_.back();
  free_.pop_back();
  return slot;
}

void KvCache::Release(int64_t slot) {
  free_.push_back(slot);
  // Keep the lowest ids on top so running sequences stay packed in the
  // front slots.
  std::sort(free_.begin(), free_.end(), std::greater<>());
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (const auto& t : keys_) total += t.numel() * t.element_size();
  for (const auto& t : values_) total += t.numel() * t.element_size();
  return total;
}

}  // namespace loraplex::engine
