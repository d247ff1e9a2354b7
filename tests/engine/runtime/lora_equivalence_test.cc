// The batched, unmerged LoRA path equals a model whose weights were merged
// (W + scale * B A), for random adapters of different ranks and targets
// served together in one batch.
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/runtime/host_adapter.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "engine/runtime/torch_utils.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/runtime/model_test_util.h"

namespace loraplex::engine {
namespace {

using testing::AddMergedDelta;
using testing::FixtureModelDir;
using testing::ReadTensors;

constexpr int64_t kMaxLen = 64;

struct RandomAdapterSpec {
  int64_t rank;
  std::vector<LinearKind> kinds;
  std::vector<int64_t> layers;
};

std::vector<HostLoraModule> RandomModules(const ModelConfig& config,
                                          const RandomAdapterSpec& spec) {
  std::vector<HostLoraModule> modules;
  for (int64_t layer : spec.layers) {
    for (LinearKind kind : spec.kinds) {
      const LinearShape shape = LinearShapeOf(config, kind);
      HostLoraModule m;
      m.layer = layer;
      m.kind = kind;
      m.rank = spec.rank;
      m.a = torch::randn({spec.rank, shape.in_features}) * 0.2;
      m.b_scaled = torch::randn({shape.out_features, spec.rank}) * 0.2;
      modules.push_back(std::move(m));
    }
  }
  return modules;
}

TEST(LoraEquivalenceTest, BatchedUnmergedEqualsMergedWeights) {
  c10::InferenceMode guard;
  torch::manual_seed(7);
  const std::string dir = FixtureModelDir("llama-gqa");
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  const auto base = ReadTensors(dir);
  using K = LinearKind;
  const std::vector<RandomAdapterSpec> specs = {
      {1, {K::kQ}, {0, 1}},
      {4, {K::kQ, K::kK, K::kV, K::kO}, {1}},
      {8, {K::kGate, K::kUp, K::kDown}, {0, 1}},
      {16, {K::kQ, K::kK, K::kV, K::kO, K::kGate, K::kUp, K::kDown}, {0, 1}},
      {3, {K::kV, K::kDown}, {0}},
  };
  LoraBank bank(*config, static_cast<int64_t>(specs.size()), /*max_rank=*/16,
                torch::kCPU, torch::kFloat32);
  std::vector<std::vector<HostLoraModule>> adapters;
  for (size_t i = 0; i < specs.size(); ++i) {
    adapters.push_back(RandomModules(*config, specs[i]));
    bank.Load(static_cast<int64_t>(i),
              *HostAdapter::FromModules(adapters.back()));
  }
  auto unmerged = LlamaModel::FromTensors(*config, base, torch::kCPU,
                                          torch::kFloat32, kMaxLen);
  ASSERT_TRUE(unmerged.ok()) << unmerged.status();

  // Row i uses adapter i (the last row: the base model); prompts differ in
  // length so prefill rows are ragged.
  const size_t rows_n = specs.size() + 1;
  std::mt19937 rng(3);
  std::vector<std::vector<int32_t>> prompts(rows_n);
  for (size_t i = 0; i < rows_n; ++i) {
    for (size_t t = 0; t < 3 + 2 * i; ++t) prompts[i].push_back(rng() % 512);
  }
  auto run = [&](const LlamaModel& model, const LoraBank* lora,
                 const std::vector<size_t>& which) {
    KvCache kv(*config, static_cast<int64_t>(rows_n), kMaxLen, torch::kCPU,
               torch::kFloat32);
    std::vector<int32_t> tokens;
    std::vector<ForwardRow> rows;
    for (size_t i : which) {
      tokens.insert(tokens.end(), prompts[i].begin(), prompts[i].end());
      const int64_t slot = (lora != nullptr && i < specs.size()) ? i : -1;
      rows.push_back(ForwardRow{static_cast<int64_t>(i), 0,
                                static_cast<int64_t>(prompts[i].size()), slot,
                                true});
    }
    std::vector<torch::Tensor> outputs = {
        model.Forward(tokens, rows, kv, lora)};
    // Three decode steps on top of the prefill.
    for (int step = 0; step < 3; ++step) {
      tokens.clear();
      for (size_t r = 0; r < rows.size(); ++r) {
        tokens.push_back(
            static_cast<int32_t>(outputs.back()[r].argmax().item<int64_t>()));
        rows[r].start_pos += rows[r].num_tokens;
        rows[r].num_tokens = 1;
      }
      outputs.push_back(model.Forward(tokens, rows, kv, lora));
    }
    return torch::stack(outputs, 1);  // [rows, steps, vocab]
  };

  std::vector<size_t> all(rows_n);
  for (size_t i = 0; i < rows_n; ++i) all[i] = i;
  const torch::Tensor batched = run(**unmerged, &bank, all);

  for (size_t i = 0; i < rows_n; ++i) {
    auto merged_weights = base;
    if (i < specs.size()) AddMergedDelta(merged_weights, adapters[i], 1.0f);
    auto merged = LlamaModel::FromTensors(*config, merged_weights, torch::kCPU,
                                          torch::kFloat32, kMaxLen);
    ASSERT_TRUE(merged.ok()) << merged.status();
    const torch::Tensor expected = run(**merged, nullptr, {i});
    const float diff = (batched[i] - expected[0]).abs().max().item<float>();
    EXPECT_LT(diff, 1e-4) << "adapter " << i;
  }
}

}  // namespace
}  // namespace loraplex::engine
