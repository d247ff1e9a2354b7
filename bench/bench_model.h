// Random-weight Llama models and LoRA adapters for the engine benchmarks:
// timings do not depend on the values, only on the geometry.
#ifndef LORAPLEX_BENCH_BENCH_MODEL_H_
#define LORAPLEX_BENCH_BENCH_MODEL_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/runtime/host_adapter.h"

namespace loraplex::engine {

struct BenchGeometry {
  int64_t hidden = 1024, layers = 8, heads = 16, kv_heads = 4;
  int64_t intermediate = 2816, vocab = 32000;
};

ModelConfig BenchModelConfig(const BenchGeometry& g);

// The geometry's command-line flags (--hidden, --layers, --heads,
// --kv-heads, --intermediate, --vocab), for ParseBenchFlags.
std::map<std::string, int64_t*> GeometryFlags(BenchGeometry& g);

// Every weight a Llama checkpoint of `config` has, N(0, 0.02), norms 1.
std::map<std::string, torch::Tensor> RandomWeights(const ModelConfig& config);

// A rank-`rank` adapter on `kinds` of every layer, N(0, 0.02) A and B.
std::shared_ptr<const HostAdapter> RandomAdapter(
    const ModelConfig& config, const std::vector<LinearKind>& kinds,
    int64_t rank, torch::Dtype dtype);

}  // namespace loraplex::engine

#endif  // LORAPLEX_BENCH_BENCH_MODEL_H_
