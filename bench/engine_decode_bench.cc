// Engine-level decode throughput: a random-weight Llama of a given geometry,
// B rows decoding together, measured three ways:
//   base        every row on the base model;
//   multi_lora  rows spread over N distinct adapters in ONE batch (the
//               slot-gathered LoRA path);
//   per_adapter the same rows served as N separate batches, one per adapter
//               (what a server without heterogeneous batching must do);
//   mix2        every row mixing two adapters (weights 0.5 and -0.5) in ONE
//               batch (Note [Adapter mixing]): compare with multi_lora,
//               where every row uses one.
// With --ranks R1,R2,... adapter i has rank R[i % n] (else every one has
// --rank), and `multi_lora_all_rank` times the same batch with every
// adapter at --rank: --ranks 4,8,16,64 --rank 16 compares a batch of mixed
// ranks with one of all rank 16. It also reports
// `residency`: how many such adapters a bank sized for --adapters adapters
// of the largest rank holds (Note [Rank rows] in lora_bank.h), loaded one
// by one until the next does not fit, against the --adapters that a bank
// of one max-rank slot per adapter holds whatever the ranks.
// Prints one JSON object. Run with --help for the flags.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/bench_flags.h"
#include "bench/bench_model.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "engine/runtime/torch_utils.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

struct BenchOptions : BenchGeometry {
  int64_t batch = 16, adapters = 16, rank = 16;
  std::string targets = "q_proj,k_proj,v_proj,o_proj";
  std::string ranks;      // Comma-separated; empty = every adapter at `rank`.
  int64_t context = 128;  // Tokens already in each row's KV cache.
  int64_t steps = 32;     // Timed decode steps per configuration.
  int64_t repeats = 3;    // Best of.
  int64_t threads = 0;
  std::string device = "cpu";
  std::string dtype = "float32";
};

// Decodes `steps` tokens for `rows` (all at position `context`), returns
// seconds.
double TimeDecode(const LlamaModel& model, KvCache& kv, const LoraBank* bank,
                  std::vector<ForwardRow> rows, int64_t steps) {
  std::vector<int32_t> tokens(rows.size(), 1);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    torch::Tensor logits = model.Forward(tokens, rows, kv, bank);
    torch::Tensor next = logits.argmax(-1).to(torch::kCPU);
    for (size_t r = 0; r < rows.size(); ++r) {
      tokens[r] = static_cast<int32_t>(next[r].item<int64_t>());
      rows[r].start_pos += 1;
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

int Run(const BenchOptions& o) {
  c10::InferenceMode guard;
  // As the engine loop does: 0 means every core (LibTorch's own default on
  // Debian is one thread).
  at::set_num_threads(o.threads > 0
                          ? static_cast<int>(o.threads)
                          : static_cast<int>(std::max(
                                1u, std::thread::hardware_concurrency())));
  torch::manual_seed(0);
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
  const int64_t max_len = o.context + o.steps + 1;
  auto model = LlamaModel::FromTensors(config, RandomWeights(config), *device,
                                       *dtype, max_len);
  if (!model.ok()) {
    std::cerr << model.status() << "\n";
    return 1;
  }
  std::vector<LinearKind> kinds;
  for (absl::string_view name : absl::StrSplit(o.targets, ',')) {
    auto kind = LinearKindFromName(std::string(name));
    if (!kind) {
      std::cerr << "unknown target " << name << "\n";
      return 2;
    }
    kinds.push_back(*kind);
  }
  std::vector<int64_t> ranks;
  for (absl::string_view text :
       absl::StrSplit(o.ranks, ',', absl::SkipEmpty())) {
    int64_t rank = 0;
    if (!absl::SimpleAtoi(text, &rank) || rank < 1) {
      std::cerr << "--ranks: bad rank " << text << "\n";
      return 2;
    }
    ranks.push_back(rank);
  }
  if (ranks.empty()) ranks.push_back(o.rank);
  const int64_t max_rank = *std::max_element(ranks.begin(), ranks.end());
  auto rank_of = [&](int64_t adapter) {
    return ranks[adapter % static_cast<int64_t>(ranks.size())];
  };
  LoraBank bank(config, o.adapters, max_rank, *device, *dtype);
  for (int64_t a = 0; a < o.adapters; ++a) {
    bank.Load(a, *RandomAdapter(config, kinds, rank_of(a), *dtype));
  }
  // Residency for the same budget: load adapters of the cycled ranks until
  // the next one does not fit.
  nlohmann::json residency;
  {
    LoraBank budget(config, o.adapters, max_rank, *device, *dtype);
    std::map<int64_t, int64_t> by_rank;
    int64_t resident = 0;
    while (rank_of(resident) <= budget.free_rows()) {
      budget.Load(resident,
                  *RandomAdapter(config, kinds, rank_of(resident), *dtype));
      ++by_rank[rank_of(resident)];
      ++resident;
    }
    residency["bank_bytes"] = budget.bytes();
    residency["rank_rows"] = budget.capacity_rows();
    residency["max_rank_slots_design"] = o.adapters;
    residency["rank_rows_design"] = resident;
    nlohmann::json counts;
    for (const auto& [rank, count] : by_rank) {
      counts[std::to_string(rank)] = count;
    }
    residency["rank_rows_design_by_rank"] = counts;
  }
  KvCache kv(config, o.batch, max_len, *device, *dtype);
  // Fill every row's cache with `context` tokens once (values are
  // irrelevant to the timing, positions are not).
  {
    std::vector<int32_t> tokens;
    std::vector<ForwardRow> rows;
    for (int64_t r = 0; r < o.batch; ++r) {
      for (int64_t t = 0; t < o.context; ++t) tokens.push_back((r + t) % 100);
      rows.push_back(ForwardRow{r, 0, o.context, -1, false});
    }
    (*model)->Forward(tokens, rows, kv, nullptr);
  }
  auto rows_for = [&](bool with_lora) {
    std::vector<ForwardRow> rows;
    for (int64_t r = 0; r < o.batch; ++r) {
      rows.push_back(
          ForwardRow{r, o.context, 1, with_lora ? r % o.adapters : -1, true});
    }
    return rows;
  };
  auto mixed_rows = [&] {
    std::vector<ForwardRow> rows;
    for (int64_t r = 0; r < o.batch; ++r) {
      ForwardRow row{r, o.context, 1, -1, true};
      row.lora_mix = {LoraTerm{r % o.adapters, 0.5f},
                      LoraTerm{(r + 1) % o.adapters, -0.5f}};
      rows.push_back(std::move(row));
    }
    return rows;
  };
  auto best_of = [&](auto&& fn) {
    double best = 1e30;
    fn();  // Warm-up.
    for (int64_t i = 0; i < o.repeats; ++i) best = std::min(best, fn());
    return best;
  };
  const double tokens = static_cast<double>(o.batch * o.steps);
  const double base_s = best_of([&] {
    return TimeDecode(**model, kv, nullptr, rows_for(false), o.steps);
  });
  const double multi_s = best_of(
      [&] { return TimeDecode(**model, kv, &bank, rows_for(true), o.steps); });
  // With --ranks: the same rows with every adapter at --rank, in the same
  // process (a second bank), so the two batches are compared under the same
  // conditions.
  double uniform_s = 0;
  if (ranks.size() > 1) {
    LoraBank uniform(config, o.adapters, o.rank, *device, *dtype);
    for (int64_t a = 0; a < o.adapters; ++a) {
      uniform.Load(a, *RandomAdapter(config, kinds, o.rank, *dtype));
    }
    uniform_s = best_of([&] {
      return TimeDecode(**model, kv, &uniform, rows_for(true), o.steps);
    });
  }
  const double mix2_s = best_of(
      [&] { return TimeDecode(**model, kv, &bank, mixed_rows(), o.steps); });
  const double per_adapter_s = best_of([&] {
    double total = 0;
    const std::vector<ForwardRow> all = rows_for(true);
    for (int64_t a = 0; a < o.adapters; ++a) {
      std::vector<ForwardRow> group;
      for (const ForwardRow& row : all) {
        if (row.lora_slot == a) group.push_back(row);
      }
      if (!group.empty())
        total += TimeDecode(**model, kv, &bank, group, o.steps);
    }
    return total;
  });
  nlohmann::json out;
  out["benchmark"] = "engine_decode";
  out["geometry"] = {{"hidden", o.hidden},
                     {"layers", o.layers},
                     {"heads", o.heads},
                     {"kv_heads", o.kv_heads},
                     {"intermediate", o.intermediate},
                     {"vocab", o.vocab}};
  out["batch"] = o.batch;
  out["adapters"] = o.adapters;
  out["ranks"] = ranks;
  out["residency"] = residency;
  out["targets"] = o.targets;
  out["context"] = o.context;
  out["steps"] = o.steps;
  out["device"] = device->str();
  out["dtype"] = o.dtype;
  out["threads"] = at::get_num_threads();
  out["tokens_per_s"] = {{"base", tokens / base_s},
                         {"multi_lora", tokens / multi_s},
                         {"per_adapter_batches", tokens / per_adapter_s},
                         {"mix2", tokens / mix2_s}};
  out["ratio_multi_vs_base"] = base_s / multi_s;
  out["ratio_multi_vs_per_adapter"] = per_adapter_s / multi_s;
  out["ratio_mix2_vs_multi"] = multi_s / mix2_s;
  if (uniform_s > 0) {
    out["tokens_per_s"]["multi_lora_all_rank"] = tokens / uniform_s;
    out["uniform_rank"] = o.rank;
    out["ratio_mixed_ranks_vs_all_rank"] = uniform_s / multi_s;
  }
  std::cout << out.dump(2) << std::endl;
  return 0;
}

}  // namespace
}  // namespace loraplex::engine

int main(int argc, char** argv) {
  loraplex::engine::BenchOptions o;
  std::map<std::string, int64_t*> ints = loraplex::engine::GeometryFlags(o);
  ints.insert({{"batch", &o.batch},
               {"adapters", &o.adapters},
               {"rank", &o.rank},
               {"context", &o.context},
               {"steps", &o.steps},
               {"repeats", &o.repeats},
               {"threads", &o.threads}});
  std::map<std::string, std::string*> strings = {{"targets", &o.targets},
                                                 {"ranks", &o.ranks},
                                                 {"device", &o.device},
                                                 {"dtype", &o.dtype}};
  if (std::optional<int> exit_code = loraplex::bench::ParseBenchFlags(
          argc, argv, "engine_decode_bench", ints, strings)) {
    return *exit_code;
  }
  return loraplex::engine::Run(o);
}
