// LlamaModel construction: weight names, shapes and fusion.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/torch_utils.h"

namespace loraplex::engine {
namespace {

// Removes `name` from `tensors` after checking its shape.
absl::StatusOr<torch::Tensor> Take(std::map<std::string, torch::Tensor>& tensors,
                                   const std::string& name,
                                   std::vector<int64_t> shape) {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint is missing tensor '", name, "'"));
  }
  torch::Tensor t = std::move(it->second);
  tensors.erase(it);
  if (t.sizes().vec() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' has shape [", absl::StrJoin(t.sizes(), ", "),
        "], expected [", absl::StrJoin(shape, ", "), "] from config.json"));
  }
  return t;
}

absl::StatusOr<torch::Tensor> TakeOptional(
    std::map<std::string, torch::Tensor>& tensors, const std::string& name,
    std::vector<int64_t> shape, bool expected) {
  if (!expected) {
    if (tensors.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint has '", name, "' but config.json says it has no bias"));
    }
    return torch::Tensor();
  }
  return Take(tensors, name, std::move(shape));
}

}  // namespace

LlamaModel::LlamaModel(const ModelConfig& config, const torch::Device& device,
                       torch::Dtype dtype, int64_t max_positions)
    : config_(config),
      device_(device),
      dtype_(dtype),
      max_positions_(max_positions) {}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(
    const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
    const torch::Device& device, torch::Dtype dtype, int64_t max_positions) {
  std::map<std::string, torch::Tensor> tensors;
  try {
    for (const std::string& name : checkpoint.TensorNames()) {
      // Buffers some exporters keep; recomputed here.
      if (absl::EndsWith(name, "rotary_emb.inv_freq")) continue;
      const TensorInfo* info = checkpoint.Find(name);
      tensors[name] =
          TensorFromBytes(*info, checkpoint.Data(*info), dtype, device);
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "loading model weights");
  }
  return FromTensors(config, std::move(tensors), device, dtype, max_positions);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::FromTensors(
    const ModelConfig& config, std::map<std::string, torch::Tensor> tensors,
    const torch::Device& device, torch::Dtype dtype, int64_t max_positions) {
  std::unique_ptr<LlamaModel> model(
      new LlamaModel(config, device, dtype, max_positions));
  const int64_t hidden = config.hidden_size;
  const int64_t q_out = config.num_attention_heads * config.head_dim;
  const int64_t kv_out = config.num_key_value_heads * config.head_dim;
  const int64_t inter = config.intermediate_size;
  try {
    for (auto& [name, t] : tensors) t = t.to(device, dtype).contiguous();
    ASSIGN_OR_RETURN(model->embed_tokens_,
                     Take(tensors, "model.embed_tokens.weight",
                          {config.vocab_size, hidden}));
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      const std::string p = absl::StrCat("model.layers.", i, ".");
      Layer layer;
      ASSIGN_OR_RETURN(layer.input_norm,
                       Take(tensors, p + "input_layernorm.weight", {hidden}));
      ASSIGN_OR_RETURN(
          layer.post_norm,
          Take(tensors, p + "post_attention_layernorm.weight", {hidden}));
      ASSIGN_OR_RETURN(auto q, Take(tensors, p + "self_attn.q_proj.weight",
                                    {q_out, hidden}));
      ASSIGN_OR_RETURN(auto k, Take(tensors, p + "self_attn.k_proj.weight",
                                    {kv_out, hidden}));
      ASSIGN_OR_RETURN(auto v, Take(tensors, p + "self_attn.v_proj.weight",
                                    {kv_out, hidden}));
      layer.qkv_weight = torch::cat({q, k, v}, 0).contiguous();
      ASSIGN_OR_RETURN(auto qb, TakeOptional(tensors, p + "self_attn.q_proj.bias",
                                             {q_out}, config.qkv_bias));
      ASSIGN_OR_RETURN(auto kb, TakeOptional(tensors, p + "self_attn.k_proj.bias",
                                             {kv_out}, config.qkv_bias));
      ASSIGN_OR_RETURN(auto vb, TakeOptional(tensors, p + "self_attn.v_proj.bias",
                                             {kv_out}, config.qkv_bias));
      if (config.qkv_bias) layer.qkv_bias = torch::cat({qb, kb, vb}, 0);
      ASSIGN_OR_RETURN(layer.o_weight, Take(tensors, p + "self_attn.o_proj.weight",
                                            {hidden, q_out}));
      ASSIGN_OR_RETURN(layer.o_bias, TakeOptional(tensors, p + "self_attn.o_proj.bias",
                                                  {hidden}, config.o_bias));
      ASSIGN_OR_RETURN(auto gate, Take(tensors, p + "mlp.gate_proj.weight",
                                       {inter, hidden}));
      ASSIGN_OR_RETURN(auto up, Take(tensors, p + "mlp.up_proj.weight",
                                     {inter, hidden}));
      layer.gate_up_weight = torch::cat({gate, up}, 0).contiguous();
      ASSIGN_OR_RETURN(auto gb, TakeOptional(tensors, p + "mlp.gate_proj.bias",
                                             {inter}, config.mlp_bias));
      ASSIGN_OR_RETURN(auto ub, TakeOptional(tensors, p + "mlp.up_proj.bias",
                                             {inter}, config.mlp_bias));
      if (config.mlp_bias) layer.gate_up_bias = torch::cat({gb, ub}, 0);
      ASSIGN_OR_RETURN(layer.down_weight, Take(tensors, p + "mlp.down_proj.weight",
                                               {hidden, inter}));
      ASSIGN_OR_RETURN(layer.down_bias, TakeOptional(tensors, p + "mlp.down_proj.bias",
                                                     {hidden}, config.mlp_bias));
      model->layers_.push_back(std::move(layer));
    }
    ASSIGN_OR_RETURN(model->final_norm_,
                     Take(tensors, "model.norm.weight", {hidden}));
    if (config.tie_word_embeddings) {
      // HF ties lm_head to the embeddings; a saved copy is redundant.
      tensors.erase("lm_head.weight");
      model->lm_head_ = model->embed_tokens_;
    } else {
      auto head = Take(tensors, "lm_head.weight", {config.vocab_size, hidden});
      if (!head.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            head.status().message(),
            " (tie_word_embeddings is false, so lm_head must be saved)"));
      }
      model->lm_head_ = *std::move(head);
    }
    if (!tensors.empty()) {
      std::vector<std::string> extra;
      for (const auto& [name, t] : tensors) extra.push_back(name);
      if (extra.size() > 5) extra.resize(5);
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint has ", tensors.size(),
          " tensors this architecture does not use, e.g. ",
          absl::StrJoin(extra, ", ")));
    }
    model->rope_ =
        std::make_unique<RotaryEmbedding>(config, max_positions, device);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "building the model");
  }
  return model;
}

}  // namespace loraplex::engine
