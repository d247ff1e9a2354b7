// Writes a random-weight Llama model directory (config.json +
// model.safetensors, float32) of a given geometry, for the end-to-end
// benchmarks: the server loads it like any Hugging Face model. No tokenizer:
// benchmarks send token ids. Torch-free.
//
//   make_bench_model --out DIR [--hidden 256 --layers 4 --heads 4
//                    --kv-heads 2 --intermediate 688 --vocab 4096 --seed 0]
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/safetensors/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace {

struct Geometry {
  int64_t hidden = 256, layers = 4, heads = 4, kv_heads = 2;
  int64_t intermediate = 688, vocab = 4096, seed = 0;
};

nlohmann::json ConfigJson(const Geometry& g) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", g.hidden},
          {"intermediate_size", g.intermediate},
          {"num_hidden_layers", g.layers},
          {"num_attention_heads", g.heads},
          {"num_key_value_heads", g.kv_heads},
          {"head_dim", g.hidden / g.heads},
          {"vocab_size", g.vocab},
          {"max_position_embeddings", 2048},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 10000.0},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"torch_dtype", "float32"}};
}

class WeightWriter {
 public:
  explicit WeightWriter(uint64_t seed) : rng_(seed) {}
  absl::Status Random(const std::string& name, std::vector<int64_t> shape) {
    return Fill(name, std::move(shape), /*constant=*/std::nullopt);
  }
  absl::Status Ones(const std::string& name, int64_t size) {
    return Fill(name, {size}, 1.0f);
  }
  absl::Status Write(const std::string& path) {
    return writer_.WriteFile(path);
  }

 private:
  absl::Status Fill(const std::string& name, std::vector<int64_t> shape,
                    std::optional<float> constant) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    std::vector<float> values(static_cast<size_t>(count));
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float& v : values) v = constant ? *constant : normal(rng_);
    return writer_.AddFloat32(name, std::move(shape), values.data());
  }

  std::mt19937_64 rng_;
  loraplex::engine::SafetensorsWriter writer_;
};

absl::Status WriteModel(const Geometry& g, const std::string& out) {
  std::filesystem::create_directories(out);
  std::ofstream(out + "/config.json") << ConfigJson(g).dump(2) << "\n";
  WeightWriter w(static_cast<uint64_t>(g.seed));
  const int64_t head_dim = g.hidden / g.heads;
  const int64_t q = g.heads * head_dim, kv = g.kv_heads * head_dim;
  absl::Status s = w.Random("model.embed_tokens.weight", {g.vocab, g.hidden});
  if (s.ok()) s = w.Random("lm_head.weight", {g.vocab, g.hidden});
  if (s.ok()) s = w.Ones("model.norm.weight", g.hidden);
  for (int64_t l = 0; l < g.layers && s.ok(); ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    for (const auto& [name, shape] :
         std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {"self_attn.q_proj.weight", {q, g.hidden}},
             {"self_attn.k_proj.weight", {kv, g.hidden}},
             {"self_attn.v_proj.weight", {kv, g.hidden}},
             {"self_attn.o_proj.weight", {g.hidden, q}},
             {"mlp.gate_proj.weight", {g.intermediate, g.hidden}},
             {"mlp.up_proj.weight", {g.intermediate, g.hidden}},
             {"mlp.down_proj.weight", {g.hidden, g.intermediate}}}) {
      if (s.ok()) s = w.Random(p + name, shape);
    }
    if (s.ok()) s = w.Ones(p + "input_layernorm.weight", g.hidden);
    if (s.ok()) s = w.Ones(p + "post_attention_layernorm.weight", g.hidden);
  }
  if (!s.ok()) return s;
  return w.Write(out + "/model.safetensors");
}

}  // namespace

int main(int argc, char** argv) {
  Geometry g;
  std::string out;
  std::map<std::string, int64_t*> ints = {{"hidden", &g.hidden},
                                          {"layers", &g.layers},
                                          {"heads", &g.heads},
                                          {"kv-heads", &g.kv_heads},
                                          {"intermediate", &g.intermediate},
                                          {"vocab", &g.vocab},
                                          {"seed", &g.seed}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = std::string(argv[i]).substr(2);
    if (name == "out") {
      out = argv[i + 1];
    } else if (auto it = ints.find(name);
               it == ints.end() || !absl::SimpleAtoi(argv[i + 1], it->second)) {
      std::cerr << "make_bench_model: bad flag " << argv[i] << "\n";
      return 2;
    }
  }
  if (out.empty() || argc % 2 == 0 || g.heads <= 0 || g.hidden % g.heads != 0) {
    std::cerr << "usage: make_bench_model --out DIR [--hidden N --layers N "
                 "--heads N --kv-heads N --intermediate N --vocab N --seed N]"
                 "\n(hidden must be a multiple of heads)\n";
    return 2;
  }
  if (absl::Status s = WriteModel(g, out); !s.ok()) {
    std::cerr << "make_bench_model: " << s << "\n";
    return 1;
  }
  return 0;
}
