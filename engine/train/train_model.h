// Internal (includes LibTorch): the trainable Llama decoder. Its parameter
// names are Hugging Face's ("model.layers.0.self_attn.q_proj.weight"), so
// saving is a walk over named_parameters(); LoRA factors attached to a
// linear layer appear as "<layer>.lora_A.weight" / "<layer>.lora_B.weight",
// PEFT's names without the "base_model.model." prefix.
#ifndef LORAPLEX_ENGINE_TRAIN_TRAIN_MODEL_H_
#define LORAPLEX_ENGINE_TRAIN_TRAIN_MODEL_H_

#include <torch/torch.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/config/model_config.h"

namespace loraplex::engine {

// A bias-free linear layer, optionally with a LoRA branch:
//   y = x W^T + scale * (x A^T) B^T.
class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in_features, int64_t out_features);

  torch::Tensor forward(const torch::Tensor& x);

  // Adds the LoRA branch with PEFT's initialisation: A kaiming-uniform
  // (a = sqrt(5)), B zeros, so the layer's output is unchanged at first.
  void AttachLora(int64_t rank, double scale);
  bool has_lora() const { return !lora_a_.is_empty(); }
  // The branch's factors (parameters: writes change the layer) and scale;
  // only with has_lora().
  torch::Tensor lora_a_weight() const { return lora_a_->weight; }
  torch::Tensor lora_b_weight() const { return lora_b_->weight; }
  double lora_scale() const { return lora_scale_; }

  torch::Tensor weight;

 private:
  int64_t in_features_;
  int64_t out_features_;
  torch::nn::Linear lora_a_{nullptr};  // registered as "lora_A"
  torch::nn::Linear lora_b_{nullptr};  // registered as "lora_B"
  double lora_scale_ = 0;
};
TORCH_MODULE(LoraLinear);

class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RmsNorm);

class AttentionImpl;
class MlpImpl;
class DecoderLayerImpl;

// LlamaForCausalLM: embeddings, decoder layers (RMSNorm, RoPE attention
// with optional grouped KV heads, SwiGLU MLP), final norm, and an lm_head
// that is the embedding matrix when tie_word_embeddings is set.
class LlamaTrainModelImpl : public torch::nn::Module {
 public:
  // Weights start as HF initialises them: normal(0, initializer_range) for
  // matrices (the residual-branch outputs o_proj and down_proj further
  // divided by sqrt(2 * layers), GPT-2 style), norms at one. Uses torch's
  // global generator: seed it first for a reproducible start.
  LlamaTrainModelImpl(const ModelConfig& config, double initializer_range,
                      int64_t max_positions);

  // input_ids [batch, seq] int64 -> logits [batch, seq, vocab] float32.
  torch::Tensor forward(const torch::Tensor& input_ids);

  // Mean next-token cross-entropy of `input_ids` [batch, seq]: position t
  // predicts t + 1.
  torch::Tensor NextTokenLoss(const torch::Tensor& input_ids);
  // Summed negative log-likelihood over those positions (for perplexity).
  torch::Tensor NextTokenNllSum(const torch::Tensor& input_ids);

  // Adds LoRA branches to every layer's linear of the given kinds.
  void AttachLora(const std::vector<LinearKind>& kinds, int64_t rank,
                  double scale);

  // The linear layer of `kind` in decoder layer `layer`.
  LoraLinear linear(int64_t layer, LinearKind kind);

  // Copies HF-named tensors into the parameters of the same name (all of
  // them must be present with matching shapes; lm_head.weight is not
  // expected when tied). INVALID_ARGUMENT naming the first mismatch.
  absl::Status LoadHfTensors(
      const std::map<std::string, torch::Tensor>& tensors);

  // Base (non-LoRA) parameters and LoRA parameters, by HF/PEFT name.
  std::vector<std::pair<std::string, torch::Tensor>> BaseParameters() const;
  std::vector<std::pair<std::string, torch::Tensor>> LoraParameters() const;

  const ModelConfig& config() const { return config_; }
  int64_t max_positions() const { return max_positions_; }

 private:
  ModelConfig config_;
  int64_t max_positions_;
  torch::nn::Embedding embed_tokens_{nullptr};
  std::vector<std::shared_ptr<DecoderLayerImpl>> layers_;
  RmsNorm norm_{nullptr};
  LoraLinear lm_head_{nullptr};  // Null when tied.
  torch::Tensor rope_cos_;       // [max_positions, head_dim], not a parameter
  torch::Tensor rope_sin_;
};
TORCH_MODULE(LlamaTrainModel);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_TRAIN_MODEL_H_
