// Decode step time against context length: B rows of a random-weight Llama
// decode with C tokens already in each row's KV cache, for each C of
// --contexts. The cache is filled directly with random keys and values (a
// prefill of 16 x 2,048 tokens would take minutes on a CPU and is not what
// is measured). Only the base model: attention over the cache is what grows
// with C. --attention paged|gather picks how attention reads the cache
// (AttentionKernel in llama_model.h; default: the device's). Prints one JSON
// object; --help lists the flags. With --prefill P it times one row's
// P-token prompt, prefilled in chunks of --chunk, instead.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/bench_flags.h"
#include "bench/bench_model.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/torch_utils.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

// Defaults: the geometry of issue 13's reference point (TinyLlama-1.1B).
struct BenchOptions : BenchGeometry {
  BenchOptions() {
    hidden = 2048;
    layers = 22;
    heads = 32;
    kv_heads = 4;
    intermediate = 5632;
    vocab = 32000;
  }
  int64_t batch = 16;
  std::string contexts = "128,512,2048";
  int64_t steps = 4;    // Timed decode steps per repeat.
  int64_t repeats = 3;  // Best of.
  // With --prefill P > 0, only one row's prompt of P tokens is timed
  // instead, in chunks of --chunk tokens (the engine's max_prefill_tokens).
  int64_t prefill = 0;
  int64_t chunk = 512;
  int64_t threads = 0;
  std::string device = "cpu";
  std::string dtype = "float32";
  std::string attention = "auto";
};

int Run(const BenchOptions& o) {
  c10::InferenceMode guard;
  at::set_num_threads(o.threads > 0
                          ? static_cast<int>(o.threads)
                          : static_cast<int>(std::max(
                                1u, std::thread::hardware_concurrency())));
  torch::manual_seed(0);
  std::vector<int64_t> contexts;
  for (absl::string_view text :
       absl::StrSplit(o.contexts, ',', absl::SkipEmpty())) {
    int64_t context = 0;
    if (!absl::SimpleAtoi(text, &context) || context < 1) {
      std::cerr << "--contexts: bad length " << text << "\n";
      return 2;
    }
    contexts.push_back(context);
  }
  if (contexts.empty() || o.batch < 1 || o.steps < 1 || o.repeats < 1) {
    std::cerr << "--contexts, --batch, --steps and --repeats must be set\n";
    return 2;
  }
  const ModelConfig config = BenchModelConfig(o);
  auto device = ParseDevice(o.device);
  if (!device.ok()) {
    std::cerr << device.status() << "\n";
    return 1;
  }
  auto dtype = ParseDtype(o.dtype, *device);
  if (!dtype.ok()) {
    std::cerr << dtype.status() << "\n";
    return 1;
  }
  const int64_t longest =
      std::max(o.prefill, *std::max_element(contexts.begin(), contexts.end()));
  auto model = LlamaModel::FromTensors(config, RandomWeights(config), *device,
                                       *dtype, longest + o.steps + 1);
  if (!model.ok()) {
    std::cerr << model.status() << "\n";
    return 1;
  }
  if (o.attention == "paged") {
    (*model)->set_attention_kernel(AttentionKernel::kPaged);
  } else if (o.attention == "gather") {
    (*model)->set_attention_kernel(AttentionKernel::kGather);
  } else if (o.attention != "auto") {
    std::cerr << "--attention: auto, paged or gather\n";
    return 2;
  }
  nlohmann::json results = nlohmann::json::array();
  if (o.prefill > 0) {
    // Prefill: one row, the prompt in chunks, each chunk's attention over
    // everything before it.
    double best = 1e30;
    for (int64_t repeat = 0; repeat <= o.repeats; ++repeat) {
      KvCache kv(config, 1, o.prefill + 1, *device, *dtype);
      const auto start = std::chrono::steady_clock::now();
      for (int64_t pos = 0; pos < o.prefill; pos += o.chunk) {
        const int64_t n = std::min(o.chunk, o.prefill - pos);
        std::vector<int32_t> tokens(n, 1);
        std::vector<ForwardRow> rows = {
            ForwardRow{0, pos, n, -1, /*logits=*/pos + n == o.prefill}};
        (*model)->Forward(tokens, rows, kv, nullptr);
      }
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      if (repeat > 0) best = std::min(best, seconds);
    }
    results.push_back(
        {{"prefill_tokens", o.prefill},
         {"chunk", o.chunk},
         {"seconds", best},
         {"tokens_per_s", static_cast<double>(o.prefill) / best}});
  }
  for (int64_t context : o.prefill > 0 ? std::vector<int64_t>{} : contexts) {
    KvCache kv(config, o.batch, context + o.steps + 1, *device, *dtype);
    for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
      kv.keys(l).normal_();
      kv.values(l).normal_();
    }
    double best = 1e30;
    for (int64_t repeat = 0; repeat <= o.repeats; ++repeat) {  // 0: warm-up.
      std::vector<ForwardRow> rows;
      for (int64_t r = 0; r < o.batch; ++r) {
        rows.push_back(ForwardRow{r, context, 1, -1, /*logits=*/true});
      }
      std::vector<int32_t> tokens(rows.size(), 1);
      const auto start = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < o.steps; ++s) {
        torch::Tensor next = (*model)
                                 ->Forward(tokens, rows, kv, nullptr)
                                 .argmax(-1)
                                 .to(torch::kCPU);
        for (size_t r = 0; r < rows.size(); ++r) {
          tokens[r] = static_cast<int32_t>(next[r].item<int64_t>());
          rows[r].start_pos += 1;
        }
      }
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      if (repeat > 0) best = std::min(best, seconds);
    }
    results.push_back(
        {{"context", context},
         {"step_ms", 1e3 * best / static_cast<double>(o.steps)},
         {"tokens_per_s", static_cast<double>(o.batch * o.steps) / best},
         {"kv_cache_bytes", kv.bytes()},
         {"kv_tokens_in_use", kv.tokens_in_use()},
         {"kv_bytes_in_use", kv.bytes() /
                                 static_cast<uint64_t>(kv.capacity_tokens()) *
                                 static_cast<uint64_t>(kv.tokens_in_use())}});
  }
  nlohmann::json out;
  out["benchmark"] = "decode_context";
  out["geometry"] = {{"hidden", o.hidden},
                     {"layers", o.layers},
                     {"heads", o.heads},
                     {"kv_heads", o.kv_heads},
                     {"intermediate", o.intermediate},
                     {"vocab", o.vocab}};
  out["batch"] = o.batch;
  out["steps"] = o.steps;
  out["repeats"] = o.repeats;
  out["device"] = device->str();
  out["dtype"] = o.dtype;
  out["threads"] = at::get_num_threads();
  out["attention"] = (*model)->attention_kernel() == AttentionKernel::kPaged
                         ? "paged"
                         : "gather";
  out["results"] = results;
  std::cout << out.dump(2) << std::endl;
  return 0;
}

}  // namespace
}  // namespace loraplex::engine

int main(int argc, char** argv) {
  loraplex::engine::BenchOptions o;
  std::map<std::string, int64_t*> ints = loraplex::engine::GeometryFlags(o);
  ints.insert({{"batch", &o.batch},
               {"steps", &o.steps},
               {"repeats", &o.repeats},
               {"prefill", &o.prefill},
               {"chunk", &o.chunk},
               {"threads", &o.threads}});
  std::map<std::string, std::string*> strings = {{"contexts", &o.contexts},
                                                 {"device", &o.device},
                                                 {"dtype", &o.dtype},
                                                 {"attention", &o.attention}};
  if (std::optional<int> exit_code = loraplex::bench::ParseBenchFlags(
          argc, argv, "decode_context_bench", ints, strings)) {
    return *exit_code;
  }
  return loraplex::engine::Run(o);
}
