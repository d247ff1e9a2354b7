// Internal (includes LibTorch): the key/value cache. One contiguous slot of
// `max_seq_len` positions per running sequence, preallocated at start-up so
// a step never allocates cache memory.
#ifndef LORAPLEX_ENGINE_RUNTIME_KV_CACHE_H_
#define LORAPLEX_ENGINE_RUNTIME_KV_CACHE_H_

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "engine/config/model_config.h"

namespace loraplex::engine {

// Owned by the engine loop thread; not thread-safe.
class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t num_slots, int64_t max_seq_len,
          const torch::Device& device, torch::Dtype dtype);

  // Keys / values of one layer: [num_slots, max_seq_len, kv_heads, head_dim].
  torch::Tensor& keys(int64_t layer) { return keys_[layer]; }
  torch::Tensor& values(int64_t layer) { return values_[layer]; }

  int64_t num_slots() const { return num_slots_; }
  int64_t max_seq_len() const { return max_seq_len_; }
  int64_t slots_in_use() const { return num_slots_ - free_.size(); }

  // A free slot, or nullopt when all are taken. Stale contents are never
  // read: attention masks every position beyond a sequence's length.
  std::optional<int64_t> Allocate();
  void Release(int64_t slot);

  uint64_t bytes() const;

 private:
  int64_t num_slots_;
  int64_t max_seq_len_;
  std::vector<torch::Tensor> keys_;
  std::vector<torch::Tensor> values_;
  std::vector<int64_t> free_;  // Stack: lowest slot ids are reused first.
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_KV_CACHE_H_
