// Note [Adapter mixing]: a row that mixes adapters computes
// base(x) + sum_i w_i * delta_i(x) in the same batch as plain and base rows.
// Checked against a model whose weights were merged densely (W + sum_i w_i
// B_i A_i), built through the engine's own loader, at the model level and
// through the Engine API; plus the limits Engine::Submit enforces.
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/engine_test_util.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/runtime/model_test_util.h"

namespace loraplex::engine {
namespace {

using testing::AddMergedDelta;
using testing::Before;
using testing::Collector;
using testing::FindCase;
using testing::FixtureAdapterDir;
using testing::FixtureCase;
using testing::FixtureModelDir;
using testing::FixtureOptions;
using testing::LoadFixtureCases;
using testing::MaxAbsDiff;
using testing::ReadFixtureAdapter;
using testing::ReadTensors;

constexpr char kModel[] = "llama-gqa";
constexpr int64_t kMaxLen = 64;
constexpr float kTolerance = 1e-4f;
// Fixture adapters of different ranks and targets: q,v at rank 8; every
// linear kind at rank 16; q,k,v,o at rank 4 with rsLoRA scaling.
const std::vector<std::string> kFixtureAdapters = {"qv-r8", "all-r16",
                                                   "attn-r4-rslora"};

// A random rank-2 adapter on the MLP of layer 1 only (a fourth rank and a
// target set none of the fixtures has).
std::shared_ptr<const HostAdapter> RandomMlpAdapter(const ModelConfig& config) {
  std::vector<HostLoraModule> modules;
  for (LinearKind kind : {LinearKind::kGate, LinearKind::kDown}) {
    const LinearShape shape = LinearShapeOf(config, kind);
    HostLoraModule m;
    m.layer = 1;
    m.kind = kind;
    m.rank = 2;
    m.a = torch::randn({2, shape.in_features}) * 0.2;
    m.b_scaled = torch::randn({shape.out_features, 2}) * 0.2;
    modules.push_back(std::move(m));
  }
  return HostAdapter::FromModules(std::move(modules));
}

// One row of the batch: the adapters it mixes (slot, weight), or a plain
// adapter slot, or neither (base).
struct RowSpec {
  int64_t plain_slot = -1;
  std::vector<LoraTerm> mix;
};

TEST(AdapterMixingModelTest, MixedRowsEqualDenselyMergedWeights) {
  c10::InferenceMode guard;
  torch::manual_seed(11);
  const std::string dir = FixtureModelDir(kModel);
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  const auto base = ReadTensors(dir);
  std::vector<std::shared_ptr<const HostAdapter>> adapters;
  for (const std::string& name : kFixtureAdapters) {
    adapters.push_back(ReadFixtureAdapter(*config, kModel, name));
    ASSERT_NE(adapters.back(), nullptr) << name;
  }
  adapters.push_back(RandomMlpAdapter(*config));
  LoraBank bank(*config, static_cast<int64_t>(adapters.size()),
                /*max_rank=*/16, torch::kCPU, torch::kFloat32);
  for (size_t i = 0; i < adapters.size(); ++i) {
    bank.Load(static_cast<int64_t>(i), *adapters[i]);
  }
  auto unmerged = LlamaModel::FromTensors(*config, base, torch::kCPU,
                                          torch::kFloat32, kMaxLen);
  ASSERT_TRUE(unmerged.ok()) << unmerged.status();

  // Mixes of 2, 3 and 4 adapters with negative and large weights, beside a
  // plain adapter row, a base row, and a mix holding a weight of exactly 1.
  const std::vector<RowSpec> specs = {
      {-1, {{0, 0.7f}, {1, -0.5f}}},
      {-1, {{0, 1.5f}, {1, 0.25f}, {2, -1.2f}}},
      {-1, {{3, 2.0f}, {0, 0.3f}, {2, -0.8f}, {1, 1.0f}}},
      {1, {}},
      {-1, {}},
      {-1, {{2, 1.0f}, {3, -2.5f}}},
      {-1, {{1, -1.0f}}},
  };
  const size_t rows_n = specs.size();
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> prompts(rows_n);
  for (size_t i = 0; i < rows_n; ++i) {
    for (size_t t = 0; t < 2 + 3 * i; ++t) prompts[i].push_back(rng() % 512);
  }
  // Prefill (ragged prompts) and three decode steps; logits [rows, steps,
  // vocab].
  auto run = [&](const LlamaModel& model, const LoraBank* lora,
                 const std::vector<size_t>& which) {
    KvCache kv(*config, static_cast<int64_t>(rows_n), kMaxLen, torch::kCPU,
               torch::kFloat32);
    std::vector<int32_t> tokens;
    std::vector<ForwardRow> rows;
    for (size_t i : which) {
      tokens.insert(tokens.end(), prompts[i].begin(), prompts[i].end());
      ForwardRow row{static_cast<int64_t>(i), 0,
                     static_cast<int64_t>(prompts[i].size()), -1, true};
      if (lora != nullptr) {
        row.lora_slot = specs[i].plain_slot;
        row.lora_mix = specs[i].mix;
      }
      rows.push_back(row);
    }
    std::vector<torch::Tensor> outputs = {
        model.Forward(tokens, rows, kv, lora)};
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
    return torch::stack(outputs, 1);
  };
  std::vector<size_t> all(rows_n);
  for (size_t i = 0; i < rows_n; ++i) all[i] = i;
  const torch::Tensor batched = run(**unmerged, &bank, all);

  for (size_t i = 0; i < rows_n; ++i) {
    auto merged_weights = base;
    if (specs[i].plain_slot >= 0) {
      AddMergedDelta(merged_weights, adapters[specs[i].plain_slot]->modules(),
                     1.0f);
    }
    for (const LoraTerm& term : specs[i].mix) {
      AddMergedDelta(merged_weights, adapters[term.slot]->modules(),
                     term.weight);
    }
    auto merged = LlamaModel::FromTensors(*config, merged_weights, torch::kCPU,
                                          torch::kFloat32, kMaxLen);
    ASSERT_TRUE(merged.ok()) << merged.status();
    const torch::Tensor expected = run(**merged, nullptr, {i});
    const float diff = (batched[i] - expected[0]).abs().max().item<float>();
    EXPECT_LT(diff, kTolerance) << "row " << i;
    // The mix must matter: a row that ignored its adapters would also be
    // close to the base model.
    if (!specs[i].mix.empty()) {
      const torch::Tensor plain_base = run(**unmerged, nullptr, {i});
      EXPECT_GT((expected[0] - plain_base[0]).abs().max().item<float>(),
                100 * kTolerance)
          << "row " << i;
    }
  }
}

// --- Through the Engine API. ---

std::unique_ptr<Engine> MakeFixtureEngine(int32_t device_slots = 16) {
  EngineOptions options = FixtureOptions(kModel);
  options.max_resident_adapters = device_slots;
  auto engine = testing::MakeEngine(options);
  if (engine == nullptr) return nullptr;
  for (const std::string& name : kFixtureAdapters) {
    EXPECT_TRUE(
        engine->RegisterAdapter(name, FixtureAdapterDir(kModel, name)).ok());
  }
  return engine;
}

GenerationRequest Request(const std::vector<int32_t>& prompt,
                          std::vector<WeightedAdapter> mix,
                          int32_t max_new_tokens = 4) {
  GenerationRequest r;
  r.prompt_ids = prompt;
  r.adapters = std::move(mix);
  r.stopping.max_new_tokens = max_new_tokens;
  r.stopping.ignore_eos = true;
  r.return_last_logits = true;
  return r;
}

// Logits at the last position of `prompt` of the fixture model with
// `mix` merged into its weights.
std::vector<float> MergedLastLogits(const std::vector<int32_t>& prompt,
                                    const std::vector<WeightedAdapter>& mix) {
  c10::InferenceMode guard;
  const std::string dir = FixtureModelDir(kModel);
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  auto weights = ReadTensors(dir);
  for (const WeightedAdapter& adapter : mix) {
    auto host = ReadFixtureAdapter(*config, kModel, adapter.adapter_id);
    if (host == nullptr) return {};
    AddMergedDelta(weights, host->modules(), adapter.weight);
  }
  auto model = LlamaModel::FromTensors(*config, weights, torch::kCPU,
                                       torch::kFloat32, kMaxLen);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  KvCache kv(*config, 1, kMaxLen, torch::kCPU, torch::kFloat32);
  const std::vector<ForwardRow> rows = {
      ForwardRow{0, 0, static_cast<int64_t>(prompt.size()), -1, true}};
  torch::Tensor logits = (*model)->Forward(prompt, rows, kv, nullptr)[0];
  logits = logits.contiguous();
  return std::vector<float>(logits.data_ptr<float>(),
                            logits.data_ptr<float>() + logits.numel());
}

// Submits `requests` from the engine loop thread (in the final event of a
// one-token base request), so that they arrive in one inbox and, their
// adapters being resident, are admitted and stepped together.
void SubmitTogether(Engine& engine,
                    const std::vector<GenerationRequest>& requests,
                    std::vector<Collector>& collectors) {
  Collector starter;
  GenerationRequest first;
  first.prompt_ids = {1, 2};
  first.stopping.max_new_tokens = 1;
  auto submitted = std::make_shared<std::vector<absl::Status>>();
  ASSERT_TRUE(
      engine
          .Submit(first, Before(starter,
                                [&](const GenerationEvent& event) {
                                  if (!event.finished) return;
                                  for (size_t i = 0; i < requests.size(); ++i) {
                                    submitted->push_back(
                                        engine
                                            .Submit(requests[i],
                                                    collectors[i].Callback())
                                            .status());
                                  }
                                }))
          .ok());
  starter.Wait();
  ASSERT_EQ(submitted->size(), requests.size());
  for (const absl::Status& status : *submitted)
    ASSERT_TRUE(status.ok()) << status;
}

TEST(AdapterMixingEngineTest,
     AMixInABatchWithPlainAndBaseRowsEqualsMergedWeights) {
  const auto cases = LoadFixtureCases(kModel);
  auto engine = MakeFixtureEngine();
  ASSERT_NE(engine, nullptr);
  for (const std::string& name : kFixtureAdapters) {
    ASSERT_TRUE(engine->LoadAdapter(name).ok()) << name;
  }
  const FixtureCase& plain = FindCase(cases, "qv-r8", 7);
  const FixtureCase& base = FindCase(cases, "", 7);
  const std::vector<int32_t> prompt = base.prompt_ids;
  const std::vector<std::vector<WeightedAdapter>> mixes = {
      {{"qv-r8", 0.6f}, {"all-r16", -0.4f}},
      {{"attn-r4-rslora", 1.3f}, {"qv-r8", -2.0f}, {"all-r16", 0.5f}},
  };
  std::vector<GenerationRequest> requests;
  for (const auto& mix : mixes) requests.push_back(Request(prompt, mix));
  GenerationRequest plain_request = testing::GreedyRequest(plain);
  GenerationRequest base_request = testing::GreedyRequest(base);
  requests.push_back(plain_request);
  requests.push_back(base_request);
  std::vector<Collector> collectors(requests.size());
  SubmitTogether(*engine, requests, collectors);
  for (Collector& c : collectors) c.Wait();

  for (size_t i = 0; i < mixes.size(); ++i) {
    const GenerationEvent final_event = collectors[i].final_event();
    ASSERT_EQ(final_event.finish_reason, FinishReason::kLength)
        << final_event.error;
    const std::vector<float> expected = MergedLastLogits(prompt, mixes[i]);
    EXPECT_LT(MaxAbsDiff(collectors[i].last_logits(), expected), kTolerance)
        << "mix " << i;
  }
  // The plain and base rows still match the reference (transformers) run.
  EXPECT_EQ(collectors[2].tokens(), plain.greedy_ids);
  EXPECT_LT(MaxAbsDiff(collectors[2].last_logits(), plain.last_logits), 1e-3f);
  EXPECT_EQ(collectors[3].tokens(), base.greedy_ids);
  EXPECT_LT(MaxAbsDiff(collectors[3].last_logits(), base.last_logits), 1e-3f);
}

TEST(AdapterMixingEngineTest, OneAdapterAtWeightOneIsThePlainAdapterExactly) {
  const auto cases = LoadFixtureCases(kModel);
  auto engine = MakeFixtureEngine();
  ASSERT_NE(engine, nullptr);
  for (const std::string& name : kFixtureAdapters) {
    const FixtureCase& c = FindCase(cases, name, 7);
    GenerationRequest plain = testing::GreedyRequest(c);
    GenerationRequest mixed = plain;
    mixed.adapter_id.clear();
    mixed.adapters = {{name, 1.0f}};
    Collector a, b;
    ASSERT_TRUE(engine->Submit(plain, a.Callback()).ok());
    a.Wait();
    ASSERT_TRUE(engine->Submit(mixed, b.Callback()).ok());
    b.Wait();
    EXPECT_EQ(b.tokens(), a.tokens()) << name;
    EXPECT_EQ(b.last_logits(), a.last_logits()) << name;  // Bit for bit.
    EXPECT_EQ(a.tokens(), c.greedy_ids) << name;
  }
}

TEST(AdapterMixingEngineTest, SubmitEnforcesTheDocumentedLimits) {
  auto engine = MakeFixtureEngine(/*device_slots=*/2);
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> prompt = {1, 2, 3};
  auto submit = [&](GenerationRequest request) {
    Collector collector;
    absl::StatusOr<RequestId> id =
        engine->Submit(std::move(request), collector.Callback());
    if (id.ok()) collector.Wait();
    return id.status();
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float weight : {nan, inf, -inf, 10.5f, -10.01f}) {
    const absl::Status status = submit(Request(prompt, {{"qv-r8", weight}}));
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << weight << ": " << status;
  }
  for (float weight : {10.0f, -10.0f, 0.0f}) {
    EXPECT_TRUE(submit(Request(prompt, {{"qv-r8", weight}})).ok()) << weight;
  }
  // Five adapters: over kMaxMixedAdapters (checked before any name).
  std::vector<WeightedAdapter> five;
  for (int i = 0; i < 5; ++i) five.push_back({"a" + std::to_string(i), 1.0f});
  absl::Status status = submit(Request(prompt, five));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("at most 4"), std::string::npos) << status;
  status = submit(Request(prompt, {{"qv-r8", 0.5f}, {"qv-r8", 0.5f}}));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  GenerationRequest both = Request(prompt, {{"qv-r8", 0.5f}});
  both.adapter_id = "all-r16";
  EXPECT_TRUE(absl::IsInvalidArgument(submit(both)));
  status = submit(Request(prompt, {{"qv-r8", 0.5f}, {"missing", 0.5f}}));
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  // Two adapters fit two slots.
  EXPECT_TRUE(
      submit(Request(prompt, {{"qv-r8", 0.5f}, {"all-r16", -0.5f}})).ok());
}

TEST(AdapterMixingEngineTest, AMixMustFitTheRankRowsOfTheDevice) {
  // Device memory for one adapter of rank 16: 16 rank rows.
  EngineOptions options = FixtureOptions(kModel);
  options.max_resident_adapters = 1;
  options.max_lora_rank = 16;
  auto engine = testing::MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  for (const std::string& name : kFixtureAdapters) {
    ASSERT_TRUE(
        engine->RegisterAdapter(name, FixtureAdapterDir(kModel, name)).ok());
  }
  auto run = [&](std::vector<WeightedAdapter> mix) {
    Collector collector;
    const absl::StatusOr<RequestId> id = engine->Submit(
        Request({1, 2, 3}, std::move(mix)), collector.Callback());
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return GenerationEvent{};
    collector.Wait();
    return collector.final_event();
  };
  // Ranks 8 + 4 fit together in the room of one rank-16 adapter.
  GenerationEvent fits = run({{"qv-r8", 0.5f}, {"attn-r4-rslora", 0.5f}});
  EXPECT_EQ(fits.finish_reason, FinishReason::kLength) << fits.error;
  // Ranks 8 + 16 never can: the request fails once both are read.
  GenerationEvent too_big = run({{"qv-r8", 0.5f}, {"all-r16", 0.5f}});
  EXPECT_EQ(too_big.finish_reason, FinishReason::kError);
  EXPECT_TRUE(absl::IsInvalidArgument(too_big.error)) << too_big.error;
  EXPECT_THAT(std::string(too_big.error.message()),
              ::testing::HasSubstr("adding up to 24"));
  // Each alone still runs.
  EXPECT_EQ(run({{"all-r16", 1.0f}}).finish_reason, FinishReason::kLength);
}

}  // namespace
}  // namespace loraplex::engine
