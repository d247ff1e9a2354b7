#include "bench/bench_model.h"

#include <utility>

namespace loraplex::engine {

ModelConfig BenchModelConfig(const BenchGeometry& g) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = g.vocab;
  c.hidden_size = g.hidden;
  c.intermediate_size = g.intermediate;
  c.num_hidden_layers = g.layers;
  c.num_attention_heads = g.heads;
  c.num_key_value_heads = g.kv_heads;
  c.head_dim = g.hidden / g.heads;
  c.max_position_embeddings = 4096;
  return c;
}

std::map<std::string, int64_t*> GeometryFlags(BenchGeometry& g) {
  return {{"hidden", &g.hidden},
          {"layers", &g.layers},
          {"heads", &g.heads},
          {"kv-heads", &g.kv_heads},
          {"intermediate", &g.intermediate},
          {"vocab", &g.vocab}};
}

std::map<std::string, torch::Tensor> RandomWeights(const ModelConfig& c) {
  std::map<std::string, torch::Tensor> w;
  auto rnd = [](std::vector<int64_t> shape) {
    return torch::randn(shape) * 0.02;
  };
  const int64_t q = c.num_attention_heads * c.head_dim;
  const int64_t kv = c.num_key_value_heads * c.head_dim;
  w["model.embed_tokens.weight"] = rnd({c.vocab_size, c.hidden_size});
  w["lm_head.weight"] = rnd({c.vocab_size, c.hidden_size});
  w["model.norm.weight"] = torch::ones({c.hidden_size});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w[p + "input_layernorm.weight"] = torch::ones({c.hidden_size});
    w[p + "post_attention_layernorm.weight"] = torch::ones({c.hidden_size});
    w[p + "self_attn.q_proj.weight"] = rnd({q, c.hidden_size});
    w[p + "self_attn.k_proj.weight"] = rnd({kv, c.hidden_size});
    w[p + "self_attn.v_proj.weight"] = rnd({kv, c.hidden_size});
    w[p + "self_attn.o_proj.weight"] = rnd({c.hidden_size, q});
    w[p + "mlp.gate_proj.weight"] = rnd({c.intermediate_size, c.hidden_size});
    w[p + "mlp.up_proj.weight"] = rnd({c.intermediate_size, c.hidden_size});
    w[p + "mlp.down_proj.weight"] = rnd({c.hidden_size, c.intermediate_size});
  }
  return w;
}

std::shared_ptr<const HostAdapter> RandomAdapter(
    const ModelConfig& c, const std::vector<LinearKind>& kinds, int64_t rank,
    torch::Dtype dtype) {
  std::vector<HostLoraModule> modules;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (LinearKind kind : kinds) {
      const LinearShape s = LinearShapeOf(c, kind);
      HostLoraModule m;
      m.layer = l;
      m.kind = kind;
      m.rank = rank;
      m.a = (torch::randn({rank, s.in_features}) * 0.02).to(dtype);
      m.b_scaled = (torch::randn({s.out_features, rank}) * 0.02).to(dtype);
      modules.push_back(std::move(m));
    }
  }
  return HostAdapter::FromModules(std::move(modules));
}

}  // namespace loraplex::engine
