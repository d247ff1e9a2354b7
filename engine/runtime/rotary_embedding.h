// Internal (includes LibTorch): rotary position embeddings as Hugging Face's
// Llama family computes them (rotate-half layout), with linear and Llama 3
// frequency scaling.
#ifndef LORAPLEX_ENGINE_RUNTIME_ROTARY_EMBEDDING_H_
#define LORAPLEX_ENGINE_RUNTIME_ROTARY_EMBEDDING_H_

#include <torch/torch.h>

#include "engine/config/model_config.h"

namespace loraplex::engine {

// The inverse frequencies [head_dim / 2] in float32, scaling applied.
torch::Tensor RopeInverseFrequencies(const ModelConfig& config);

class RotaryEmbedding {
 public:
  // Precomputes cos/sin for positions [0, max_positions) in float32 on
  // `device`, as HF does before casting to the activations' dtype.
  RotaryEmbedding(const ModelConfig& config, int64_t max_positions,
                  const torch::Device& device);

  // Rotates x [tokens, heads, head_dim] for positions [tokens] (int64, on
  // the device). Returns a tensor of x's dtype.
  torch::Tensor Apply(const torch::Tensor& x,
                      const torch::Tensor& positions) const;

  // Gathers cos/sin rows for `positions` once per step, cast to `dtype`,
  // shaped [tokens, 1, head_dim] so Apply can reuse them across layers.
  struct Tables {
    torch::Tensor cos;
    torch::Tensor sin;
  };
  Tables Gather(const torch::Tensor& positions, torch::Dtype dtype) const;
  static torch::Tensor Apply(const torch::Tensor& x, const Tables& tables);

 private:
  torch::Tensor cos_;  // [max_positions, head_dim]
  torch::Tensor sin_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_ROTARY_EMBEDDING_H_
