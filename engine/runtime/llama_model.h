// Internal (includes LibTorch): the Llama-family decoder (Llama, Mistral,
// Qwen2) as Hugging Face transformers computes it, for a batch of sequences
// at different positions, with heterogeneous LoRA adapters per row.
#ifndef LORAPLEX_ENGINE_RUNTIME_LLAMA_MODEL_H_
#define LORAPLEX_ENGINE_RUNTIME_LLAMA_MODEL_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/config/model_config.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/lora_bank.h"
#include "engine/runtime/rotary_embedding.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

// One weighted adapter of a row (Note [Adapter mixing] in llama_model.cc).
struct LoraTerm {
  int64_t slot = -1;  // LoraBank slot.
  float weight = 1.0f;
};

// One sequence's share of a step: `num_tokens` new tokens at positions
// [start_pos, start_pos + num_tokens), their K/V written into `kv_slot`.
// Its LoRA delta is that of `lora_slot` (weight 1) plus weight * delta of
// each term of `lora_mix`; neither = the base model.
struct ForwardRow {
  ForwardRow() = default;
  ForwardRow(int64_t kv, int64_t start, int64_t tokens, int64_t adapter_slot,
             bool logits)
      : kv_slot(kv),
        start_pos(start),
        num_tokens(tokens),
        lora_slot(adapter_slot),
        want_logits(logits) {}

  int64_t kv_slot = 0;
  int64_t start_pos = 0;
  int64_t num_tokens = 0;
  int64_t lora_slot = -1;    // LoraBank slot, or -1.
  bool want_logits = false;  // Logits of the row's last token are returned.
  std::vector<LoraTerm> lora_mix;  // At most kMaxMixedAdapters terms.
};

// How attention reads the KV cache.
enum class AttentionKernel {
  kAuto,   // kPaged on the CPU, kGather on other devices.
  kPaged,  // Reads the cache in place (Note [Paged attention]); CPU only.
  // Gathers each row's blocks into a padded batch and runs batched matmuls:
  // any device (the CUDA path until it has a paged kernel).
  kGather,
};

class LlamaModel {
 public:
  // Reads every weight of `checkpoint` onto `device` as `dtype`, checking
  // names and shapes against `config`.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(
      const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
      const torch::Device& device, torch::Dtype dtype, int64_t max_positions);

  // The same from tensors keyed by HF names (e.g. "model.norm.weight").
  static absl::StatusOr<std::unique_ptr<LlamaModel>> FromTensors(
      const ModelConfig& config, std::map<std::string, torch::Tensor> tensors,
      const torch::Device& device, torch::Dtype dtype, int64_t max_positions);

  // Runs one step over `tokens` (the rows' new tokens, concatenated in row
  // order). Grows each row's blocks in `kv_cache` to cover its new tokens
  // (throws c10::Error when the cache cannot) and writes their K/V there;
  // `lora` may be null when no row uses an adapter. Returns float32 logits
  // [rows with want_logits, vocab] on the model's device, in row order. Throws
  // c10::Error on device failures.
  torch::Tensor Forward(absl::Span<const int32_t> tokens,
                        absl::Span<const ForwardRow> rows, KvCache& kv_cache,
                        const LoraBank* lora) const;

  void set_attention_kernel(AttentionKernel kernel) {
    attention_kernel_ = kernel;
  }
  // kAuto resolved for the model's device.
  AttentionKernel attention_kernel() const;

  const ModelConfig& config() const { return config_; }
  const torch::Device& device() const { return device_; }
  torch::Dtype dtype() const { return dtype_; }
  int64_t max_positions() const { return max_positions_; }

 private:
  struct Layer {
    torch::Tensor input_norm;     // [hidden]
    torch::Tensor qkv_weight;     // [(heads + 2 kv_heads) * head_dim, hidden]
    torch::Tensor qkv_bias;       // undefined without bias
    torch::Tensor o_weight;       // [hidden, heads * head_dim]
    torch::Tensor o_bias;
    torch::Tensor post_norm;      // [hidden]
    torch::Tensor gate_up_weight; // [2 * intermediate, hidden]
    torch::Tensor gate_up_bias;
    torch::Tensor down_weight;    // [hidden, intermediate]
    torch::Tensor down_bias;
  };
  struct StepPlan;
  struct LoraGroup;
  struct LoraGroupBuild;
  // Keyed by (lane, 0: single-token rows / 1: multi-token rows, rank
  // class); Note [Adapter mixing] in llama_model.cc.
  using LoraGroupBuilds =
      std::map<std::tuple<size_t, int, int64_t>, LoraGroupBuild>;

  LlamaModel(const ModelConfig& config, const torch::Device& device,
             torch::Dtype dtype, int64_t max_positions);

  StepPlan Plan(absl::Span<const int32_t> tokens,
                absl::Span<const ForwardRow> rows, KvCache& kv_cache,
                const LoraBank* lora) const;
  class PlanUpload;
  // The gather path's (AttentionKernel::kGather) blocks of each row, and its
  // masks, made on the device once the plan is uploaded.
  std::vector<int64_t> GatherBlocks(const StepPlan& plan) const;
  void PlanMasks(StepPlan& plan, bool ragged_ends) const;
  // Each LoRA group's indices, staged in `upload`.
  void PlanLora(StepPlan& plan, LoraGroupBuilds& groups, const LoraBank* lora,
                PlanUpload& upload) const;
  torch::Tensor Attention(const StepPlan& plan, const torch::Tensor& q,
                          const torch::Tensor& keys,
                          const torch::Tensor& values) const;
  torch::Tensor RmsNorm(const torch::Tensor& x,
                        const torch::Tensor& weight) const;
  // Adds every LoRA lane's (weighted) delta for (kind, layer) into `out` (a
  // view of the linear layer's output columns).
  void AddLora(const StepPlan& plan, const LoraBank& lora, LinearKind kind,
               int64_t layer, const torch::Tensor& x, torch::Tensor out) const;

  ModelConfig config_;
  torch::Device device_;
  torch::Dtype dtype_;
  int64_t max_positions_;
  torch::Tensor embed_tokens_;  // [vocab, hidden]
  std::vector<Layer> layers_;
  torch::Tensor final_norm_;
  torch::Tensor lm_head_;  // Shares embed_tokens_ when tied.
  std::unique_ptr<RotaryEmbedding> rope_;
  AttentionKernel attention_kernel_ = AttentionKernel::kAuto;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_LLAMA_MODEL_H_
