// Internal (includes LibTorch): causal attention that reads keys and values
// straight from the paged KV cache, on the CPU.
#ifndef LORAPLEX_ENGINE_RUNTIME_PAGED_ATTENTION_H_
#define LORAPLEX_ENGINE_RUNTIME_PAGED_ATTENTION_H_

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "absl/types/span.h"

namespace loraplex::engine {

// Note [Paged attention]
// Each token of a step (flat, rows concatenated) attends to the positions
// [lo, p] of its own sequence, p its position and lo = p - window + 1 under
// a sliding window, else 0. The kernel walks those positions through the
// sequence's block table (Note [Paged KV cache] in kv_cache.h) and reads
// each key and value where it lies in the pool: no per-layer gather of
// every row's whole key range (the gather path copies B x k_width x
// kv_heads x head_dim per layer, and its cost grew with the context more
// than the attention arithmetic did; bench/README.md, "Decode against
// context length"). It also reads nothing a row does not own — positions
// past the row's own length are never touched — so Note [Row isolation]
// in llama_model.cc holds without masks.
//
// Numerics follow Hugging Face's eager attention as the gather path does:
// q.k rounded to the model dtype, scaled and soft-maxed in float32, the
// probabilities rounded to the dtype before they weight the values;
// accumulation in float32. Work is split over (token, kv head) pairs with
// at::parallel_for, and each pair serves its `heads / kv_heads` query heads
// from one read of the keys.
//
// q: [T, heads, head_dim]; keys, values: [num_blocks, block_tokens,
// kv_heads, head_dim] (contiguous, same dtype and CPU device); token_rows
// and positions: [T]; block_tables[row]: that row's blocks, covering every
// position it reads. Returns [T, heads * head_dim].
torch::Tensor PagedAttention(
    const torch::Tensor& q, const torch::Tensor& keys,
    const torch::Tensor& values, absl::Span<const int64_t> token_rows,
    absl::Span<const int64_t> positions,
    absl::Span<const std::vector<int64_t>* const> block_tables,
    std::optional<int64_t> sliding_window);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_PAGED_ATTENTION_H_
