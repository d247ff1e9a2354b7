#include "engine/runtime/kv_cache.h"

#include <algorithm>

namespace loraplex::engine {

KvCache::KvCache(const ModelConfig& config, int64_t num_slots,
                 int64_t max_seq_len, const torch::Device& device,
                 torch::Dtype dtype, int64_t capacity_tokens)
    : max_seq_len_(max_seq_len), slots_(num_slots) {
  // The default lets every slot reach max_seq_len at once: whole blocks
  // per slot, since a sequence's last block is its own.
  num_blocks_ = capacity_tokens > 0
                    ? BlocksFor(std::max(capacity_tokens, max_seq_len))
                    : num_slots * BlocksFor(max_seq_len);
  auto options = torch::TensorOptions().device(device).dtype(dtype);
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    keys_.push_back(torch::zeros({num_blocks_, kBlockTokens,
                                  config.num_key_value_heads, config.head_dim},
                                 options));
    values_.push_back(torch::zeros_like(keys_.back()));
  }
  for (int64_t slot = num_slots - 1; slot >= 0; --slot) {
    free_slots_.push_back(slot);
  }
  for (int64_t block = num_blocks_ - 1; block >= 0; --block) {
    free_blocks_.push_back(block);
  }
}

std::optional<int64_t> KvCache::Allocate(int64_t reserve_tokens) {
  const int64_t blocks = BlocksFor(std::min(reserve_tokens, max_seq_len_));
  if (free_slots_.empty() ||
      static_cast<int64_t>(free_blocks_.size()) - unassigned_reservations_ <
          blocks) {
    return std::nullopt;
  }
  const int64_t slot = free_slots_.back();
  Take(slot);
  slots_[slot].reserved_blocks = blocks;
  unassigned_reservations_ += blocks;
  return slot;
}

void KvCache::Take(int64_t slot) {
  free_slots_.erase(std::find(free_slots_.begin(), free_slots_.end(), slot));
  slots_[slot].taken = true;
}

bool KvCache::Grow(int64_t slot, int64_t end) {
  if (slot < 0 || slot >= num_slots() || end > max_seq_len_) return false;
  Slot& s = slots_[slot];
  if (!s.taken) Take(slot);
  const int64_t needed = BlocksFor(end);
  while (static_cast<int64_t>(s.blocks.size()) < needed) {
    const bool reserved =
        static_cast<int64_t>(s.blocks.size()) < s.reserved_blocks;
    if (!reserved &&
        static_cast<int64_t>(free_blocks_.size()) <= unassigned_reservations_) {
      return false;
    }
    if (reserved) --unassigned_reservations_;
    s.blocks.push_back(free_blocks_.back());
    free_blocks_.pop_back();
  }
  return true;
}

void KvCache::Release(int64_t slot) {
  Slot& s = slots_[slot];
  if (!s.taken) return;
  unassigned_reservations_ -= std::max<int64_t>(
      0, s.reserved_blocks - static_cast<int64_t>(s.blocks.size()));
  free_blocks_.insert(free_blocks_.end(), s.blocks.rbegin(), s.blocks.rend());
  s = Slot{};
  free_slots_.push_back(slot);
  // Keep the lowest ids on top so running sequences stay packed in the
  // front slots.
  std::sort(free_slots_.begin(), free_slots_.end(), std::greater<>());
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (const auto& t : keys_) total += t.numel() * t.element_size();
  for (const auto& t : values_) total += t.numel() * t.element_size();
  return total;
}

}  // namespace loraplex::engine
