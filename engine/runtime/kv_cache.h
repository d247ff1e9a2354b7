// Internal (includes LibTorch): the key/value cache, paged (Note [Paged KV
// cache]).
#ifndef LORAPLEX_ENGINE_RUNTIME_KV_CACHE_H_
#define LORAPLEX_ENGINE_RUNTIME_KV_CACHE_H_

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "engine/config/model_config.h"

namespace loraplex::engine {

// Note [Paged KV cache]
// Keys and values live in one pool of fixed-size blocks per layer,
// [num_blocks, kBlockTokens, kv_heads, head_dim], allocated at start-up so a
// step never allocates cache memory. A sequence is a *slot* (the handle
// ForwardRow::kv_slot names) that owns a block table: its i-th block holds
// positions [i * kBlockTokens, (i + 1) * kBlockTokens). Blocks are assigned
// as the sequence grows (Grow, which the forward step calls before it
// writes), so a sequence holds memory for the tokens it has, not for
// max_seq_len, and gives it back when its slot is released.
//
// Admission reserves (Allocate) the blocks a sequence may reach — its
// prompt plus max_new_tokens, capped at max_seq_len — without assigning
// them: a running sequence never finds the pool empty, so nothing has to
// be preempted, and the pool (EngineOptions::kv_cache_tokens) may be
// smaller than max_batch_size x max_seq_len when requests are shorter than
// the maximum. Blocks are 16 tokens: the last block of a sequence wastes
// at most 15 positions, and the attention kernel reads a block as one
// contiguous run (Note [Paged attention] in paged_attention.h).
//
// Owned by the engine loop thread; not thread-safe.
class KvCache {
 public:
  static constexpr int64_t kBlockTokens = 16;

  // `capacity_tokens` 0 = room for every slot to reach max_seq_len at once
  // (num_slots x max_seq_len rounded up to whole blocks per slot);
  // otherwise rounded up to whole blocks, and at least max_seq_len so that
  // any one sequence fits.
  KvCache(const ModelConfig& config, int64_t num_slots, int64_t max_seq_len,
          const torch::Device& device, torch::Dtype dtype,
          int64_t capacity_tokens = 0);

  // Keys / values of one layer: [num_blocks, kBlockTokens, kv_heads,
  // head_dim].
  torch::Tensor& keys(int64_t layer) { return keys_[layer]; }
  torch::Tensor& values(int64_t layer) { return values_[layer]; }

  int64_t num_slots() const { return static_cast<int64_t>(slots_.size()); }
  int64_t max_seq_len() const { return max_seq_len_; }
  int64_t slots_in_use() const { return num_slots() - free_slots_.size(); }

  // A free slot with blocks reserved for `reserve_tokens` positions (capped
  // at max_seq_len), or nullopt when every slot is taken or the unreserved
  // blocks are too few.
  std::optional<int64_t> Allocate(int64_t reserve_tokens);
  std::optional<int64_t> Allocate() { return Allocate(max_seq_len_); }
  // Assigns blocks so that `slot` holds positions [0, end): from its
  // reservation first, then from blocks nobody reserved. False when `end`
  // exceeds max_seq_len or no such block is left. A slot that was never
  // allocated is taken by its first Grow (tests drive slots directly).
  bool Grow(int64_t slot, int64_t end);
  // The blocks of `slot`, in position order.
  const std::vector<int64_t>& block_table(int64_t slot) const {
    return slots_[slot].blocks;
  }
  // Returns the slot's blocks and reservation to the pool.
  void Release(int64_t slot);

  int64_t capacity_tokens() const { return num_blocks_ * kBlockTokens; }
  // Positions of assigned blocks (whole blocks: what memory is held).
  int64_t tokens_in_use() const {
    return (num_blocks_ - static_cast<int64_t>(free_blocks_.size())) *
           kBlockTokens;
  }
  // Positions reserved by admitted sequences, assigned or not.
  int64_t tokens_reserved() const {
    return tokens_in_use() + unassigned_reservations_ * kBlockTokens;
  }

  uint64_t bytes() const;

 private:
  struct Slot {
    bool taken = false;
    int64_t reserved_blocks = 0;
    std::vector<int64_t> blocks;
  };

  static int64_t BlocksFor(int64_t tokens) {
    return (tokens + kBlockTokens - 1) / kBlockTokens;
  }
  void Take(int64_t slot);

  int64_t max_seq_len_;
  int64_t num_blocks_;
  std::vector<torch::Tensor> keys_;
  std::vector<torch::Tensor> values_;
  std::vector<Slot> slots_;
  std::vector<int64_t> free_slots_;   // Stack: lowest ids on top.
  std::vector<int64_t> free_blocks_;  // Stack.
  // Reserved blocks not yet assigned, over all slots: Grow never hands
  // these to a slot beyond its own reservation.
  int64_t unassigned_reservations_ = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_KV_CACHE_H_
