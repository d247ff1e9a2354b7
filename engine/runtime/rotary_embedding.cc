#include "engine/runtime/rotary_embedding.h"

#include <cmath>

namespace loraplex::engine {

torch::Tensor RopeInverseFrequencies(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  // Same arithmetic as transformers' _compute_default_rope_parameters:
  // base ** (arange(0, dim, 2).float() / dim), in float32.
  torch::Tensor exponents =
      torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) /
      static_cast<float>(dim);
  torch::Tensor inv_freq =
      1.0 / torch::pow(static_cast<float>(config.rope_theta), exponents);
  const RopeScaling& scaling = config.rope_scaling;
  switch (scaling.type) {
    case RopeScalingType::kNone:
      break;
    case RopeScalingType::kLinear:
      inv_freq = inv_freq / static_cast<float>(scaling.factor);
      break;
    case RopeScalingType::kLlama3: {
      const double old_len =
          static_cast<double>(scaling.original_max_position_embeddings);
      const double low_freq_wavelen = old_len / scaling.low_freq_factor;
      const double high_freq_wavelen = old_len / scaling.high_freq_factor;
      torch::Tensor wavelen = 2 * M_PI / inv_freq;
      torch::Tensor scaled =
          torch::where(wavelen > low_freq_wavelen,
                       inv_freq / static_cast<float>(scaling.factor), inv_freq);
      torch::Tensor smooth =
          (old_len / wavelen - scaling.low_freq_factor) /
          (scaling.high_freq_factor - scaling.low_freq_factor);
      torch::Tensor smoothed =
          (1 - smooth) * scaled / static_cast<float>(scaling.factor) +
          smooth * scaled;
      torch::Tensor is_medium = (wavelen >= high_freq_wavelen)
                                    .logical_and(wavelen <= low_freq_wavelen);
      inv_freq = torch::where(is_medium, smoothed, scaled);
      break;
    }
  }
  return inv_freq.to(torch::kFloat32);
}

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config,
                                 int64_t max_positions,
                                 const torch::Device& device) {
  torch::Tensor inv_freq = RopeInverseFrequencies(config);
  torch::Tensor positions =
      torch::arange(max_positions, torch::kInt64).to(torch::kFloat32);
  torch::Tensor freqs = torch::outer(positions, inv_freq);
  torch::Tensor emb = torch::cat({freqs, freqs}, /*dim=*/-1);
  cos_ = emb.cos().to(device);
  sin_ = emb.sin().to(device);
}

RotaryEmbedding::Tables RotaryEmbedding::Gather(const torch::Tensor& positions,
                                                torch::Dtype dtype) const {
  return Tables{cos_.index_select(0, positions).to(dtype).unsqueeze(1),
                sin_.index_select(0, positions).to(dtype).unsqueeze(1)};
}

torch::Tensor RotaryEmbedding::Apply(const torch::Tensor& x,
                                     const Tables& tables) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half);
  torch::Tensor x2 = x.narrow(-1, half, half);
  torch::Tensor rotated = torch::cat({-x2, x1}, /*dim=*/-1);
  return x * tables.cos + rotated * tables.sin;
}

torch::Tensor RotaryEmbedding::Apply(const torch::Tensor& x,
                                     const torch::Tensor& positions) const {
  return Apply(x, Gather(positions, x.scalar_type()));
}

}  // namespace loraplex::engine
