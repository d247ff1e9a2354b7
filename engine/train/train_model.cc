#include "engine/train/train_model.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/runtime/rotary_embedding.h"

namespace loraplex::engine {

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features)
    : in_features_(in_features), out_features_(out_features) {
  weight =
      register_parameter("weight", torch::empty({out_features, in_features}));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::linear(x, weight);
  if (has_lora()) y = y + lora_b_(lora_a_(x)) * lora_scale_;
  return y;
}

void LoraLinearImpl::AttachLora(int64_t rank, double scale) {
  lora_a_ = register_module(
      "lora_A", torch::nn::Linear(
                    torch::nn::LinearOptions(in_features_, rank).bias(false)));
  lora_b_ = register_module(
      "lora_B", torch::nn::Linear(
                    torch::nn::LinearOptions(rank, out_features_).bias(false)));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(lora_a_->weight, std::sqrt(5.0));
  lora_b_->weight.zero_();
  lora_scale_ = scale;
}

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  // As HF: normalise in float32, cast back, then scale.
  torch::Tensor x32 = x.to(torch::kFloat32);
  torch::Tensor variance = x32.pow(2).mean(-1, /*keepdim=*/true);
  x32 = x32 * torch::rsqrt(variance + eps_);
  return weight * x32.to(x.scalar_type());
}

namespace {

// Rotate-half RoPE; cos/sin are [seq, 1, head_dim], x is [B, seq, H, d].
torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& cos,
                        const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated =
      torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& c)
      : heads_(c.num_attention_heads),
        kv_heads_(c.num_key_value_heads),
        head_dim_(c.head_dim) {
    q_proj = register_module("q_proj",
                             LoraLinear(c.hidden_size, heads_ * head_dim_));
    k_proj = register_module("k_proj",
                             LoraLinear(c.hidden_size, kv_heads_ * head_dim_));
    v_proj = register_module("v_proj",
                             LoraLinear(c.hidden_size, kv_heads_ * head_dim_));
    o_proj = register_module("o_proj",
                             LoraLinear(heads_ * head_dim_, c.hidden_size));
  }

  // x [B, L, hidden]; `masked` [L, L] is true above the diagonal.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos,
                        const torch::Tensor& sin, const torch::Tensor& masked) {
    const int64_t B = x.size(0);
    const int64_t L = x.size(1);
    torch::Tensor q =
        ApplyRope(q_proj(x).view({B, L, heads_, head_dim_}), cos, sin);
    torch::Tensor k =
        ApplyRope(k_proj(x).view({B, L, kv_heads_, head_dim_}), cos, sin);
    torch::Tensor v = v_proj(x).view({B, L, kv_heads_, head_dim_});
    q = q.transpose(1, 2);  // [B, H, L, d]
    k = k.transpose(1, 2);  // [B, KV, L, d]
    v = v.transpose(1, 2);
    if (heads_ != kv_heads_) {
      // Query head h reads KV head h / group, as HF's repeat_kv arranges it.
      k = k.repeat_interleave(heads_ / kv_heads_, /*dim=*/1);
      v = v.repeat_interleave(heads_ / kv_heads_, /*dim=*/1);
    }
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) *
                           (1.0 / std::sqrt(static_cast<double>(head_dim_)));
    scores =
        scores.masked_fill(masked, -std::numeric_limits<float>::infinity());
    torch::Tensor out = torch::matmul(torch::softmax(scores, -1), v);
    return o_proj(out.transpose(1, 2).reshape({B, L, heads_ * head_dim_}));
  }

  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_;
  int64_t kv_heads_;
  int64_t head_dim_;
};

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const ModelConfig& c) {
    gate_proj = register_module("gate_proj",
                                LoraLinear(c.hidden_size, c.intermediate_size));
    up_proj = register_module("up_proj",
                              LoraLinear(c.hidden_size, c.intermediate_size));
    down_proj = register_module("down_proj",
                                LoraLinear(c.intermediate_size, c.hidden_size));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
  }
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& c) {
    input_layernorm = register_module("input_layernorm",
                                      RmsNorm(c.hidden_size, c.rms_norm_eps));
    self_attn =
        register_module("self_attn", std::make_shared<AttentionImpl>(c));
    post_attention_layernorm = register_module(
        "post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
    mlp = register_module("mlp", std::make_shared<MlpImpl>(c));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos,
                        const torch::Tensor& sin, const torch::Tensor& masked) {
    torch::Tensor h =
        x + self_attn->forward(input_layernorm(x), cos, sin, masked);
    return h + mlp->forward(post_attention_layernorm(h));
  }
  LoraLinear Linear(LinearKind kind) {
    switch (kind) {
      case LinearKind::kQ:
        return self_attn->q_proj;
      case LinearKind::kK:
        return self_attn->k_proj;
      case LinearKind::kV:
        return self_attn->v_proj;
      case LinearKind::kO:
        return self_attn->o_proj;
      case LinearKind::kGate:
        return mlp->gate_proj;
      case LinearKind::kUp:
        return mlp->up_proj;
      case LinearKind::kDown:
        return mlp->down_proj;
    }
    return nullptr;
  }

  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<MlpImpl> mlp;
};

LlamaTrainModelImpl::LlamaTrainModelImpl(const ModelConfig& config,
                                         double initializer_range,
                                         int64_t max_positions)
    : config_(config), max_positions_(max_positions) {
  // "model" holds what HF's LlamaModel holds, so names come out as HF's.
  auto backbone =
      register_module("model", std::make_shared<torch::nn::Module>());
  embed_tokens_ = backbone->register_module(
      "embed_tokens",
      torch::nn::Embedding(config.vocab_size, config.hidden_size));
  auto layer_list =
      backbone->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers_.push_back(std::make_shared<DecoderLayerImpl>(config));
    layer_list->push_back(layers_.back());
  }
  norm_ = backbone->register_module(
      "norm", RmsNorm(config.hidden_size, config.rms_norm_eps));
  if (!config.tie_word_embeddings) {
    lm_head_ = register_module(
        "lm_head", LoraLinear(config.hidden_size, config.vocab_size));
  }

  torch::NoGradGuard no_grad;
  const double residual_std =
      initializer_range /
      std::sqrt(2.0 * static_cast<double>(config.num_hidden_layers));
  for (auto& item : named_parameters()) {
    if (item.value().dim() < 2) continue;  // Norm weights stay at one.
    const bool residual_out = absl::EndsWith(item.key(), "o_proj.weight") ||
                              absl::EndsWith(item.key(), "down_proj.weight");
    item.value().normal_(0.0, residual_out ? residual_std : initializer_range);
  }

  // The same float32 tables as the inference engine's RotaryEmbedding.
  torch::Tensor inv_freq = RopeInverseFrequencies(config);
  torch::Tensor positions =
      torch::arange(max_positions, torch::kInt64).to(torch::kFloat32);
  torch::Tensor freqs = torch::outer(positions, inv_freq);
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  rope_cos_ = emb.cos();
  rope_sin_ = emb.sin();
}

torch::Tensor LlamaTrainModelImpl::forward(const torch::Tensor& input_ids) {
  const int64_t L = input_ids.size(1);
  TORCH_CHECK(L <= max_positions_, "sequence of ", L,
              " tokens exceeds the model's ", max_positions_, " positions");
  const torch::Device device = embed_tokens_->weight.device();
  torch::Tensor cos = rope_cos_.narrow(0, 0, L).unsqueeze(1).to(device);
  torch::Tensor sin = rope_sin_.narrow(0, 0, L).unsqueeze(1).to(device);
  torch::Tensor masked =
      torch::ones({L, L},
                  torch::TensorOptions().dtype(torch::kBool).device(device))
          .triu(1);
  torch::Tensor x = embed_tokens_(input_ids);
  for (auto& layer : layers_) x = layer->forward(x, cos, sin, masked);
  x = norm_(x);
  if (lm_head_) return lm_head_(x);
  return torch::linear(x, embed_tokens_->weight);
}

torch::Tensor LlamaTrainModelImpl::NextTokenLoss(
    const torch::Tensor& input_ids) {
  const int64_t L = input_ids.size(1);
  torch::Tensor logits = forward(input_ids).narrow(1, 0, L - 1);
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, config_.vocab_size}),
      input_ids.narrow(1, 1, L - 1).reshape({-1}));
}

torch::Tensor LlamaTrainModelImpl::NextTokenNllSum(
    const torch::Tensor& input_ids) {
  const int64_t L = input_ids.size(1);
  torch::Tensor logits = forward(input_ids).narrow(1, 0, L - 1);
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, config_.vocab_size}),
      input_ids.narrow(1, 1, L - 1).reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

LoraLinear LlamaTrainModelImpl::linear(int64_t layer, LinearKind kind) {
  return layers_.at(layer)->Linear(kind);
}

void LlamaTrainModelImpl::AttachLora(const std::vector<LinearKind>& kinds,
                                     int64_t rank, double scale) {
  for (auto& layer : layers_) {
    for (LinearKind kind : kinds) layer->Linear(kind)->AttachLora(rank, scale);
  }
}

std::vector<std::pair<std::string, torch::Tensor>>
LlamaTrainModelImpl::BaseParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters()) {
    if (!absl::StrContains(item.key(), ".lora_"))
      out.emplace_back(item.key(), item.value());
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>>
LlamaTrainModelImpl::LoraParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters()) {
    if (absl::StrContains(item.key(), ".lora_"))
      out.emplace_back(item.key(), item.value());
  }
  return out;
}

absl::Status LlamaTrainModelImpl::LoadHfTensors(
    const std::map<std::string, torch::Tensor>& tensors) {
  size_t used = 0;
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : BaseParameters()) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("base model weights lack '", name, "'"));
    }
    if (it->second.sizes() != param.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "base model tensor '", name, "' has shape [",
          absl::StrJoin(it->second.sizes(), ", "), "], config.json implies [",
          absl::StrJoin(param.sizes(), ", "), "]"));
    }
    param.copy_(it->second);
    ++used;
  }
  const bool redundant_head =
      config_.tie_word_embeddings && tensors.count("lm_head.weight");
  if (used + (redundant_head ? 1 : 0) != tensors.size()) {
    for (const auto& [name, tensor] : tensors) {
      if (name == "lm_head.weight" && redundant_head) continue;
      if (!named_parameters().contains(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "base model weights have '", name, "', which a ",
            "LlamaForCausalLM with this config.json does not use"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace loraplex::engine
