// LlamaModel against the Hugging Face reference: last-position logits within
// 1e-4 and greedy tokens, for the base model and every PEFT adapter, alone
// and all in one heterogeneous batch; with each way of reading the KV cache
// (AttentionKernel: the paged kernel and the gather path).
#include "engine/runtime/llama_model.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "engine/lora/lora_adapter.h"
#include "engine/runtime/host_adapter.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"

namespace loraplex::engine {
namespace {

using testing::FixtureAdapterDir;
using testing::FixtureCase;
using testing::FixtureModelDir;
using testing::LoadFixtureCases;
using testing::MaxAbsDiff;

constexpr float kLogitTolerance = 1e-4f;
constexpr int64_t kMaxSeqLen = 64;

// A fixture model with every adapter of its folder loaded into LoraBank
// slots 0, 1, ...
struct LoadedFixture {
  ModelConfig config;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<LoraBank> bank;
  std::map<std::string, int64_t> slot_of;  // adapter name -> slot
};

LoadedFixture LoadFixture(const std::string& name,
                          const std::vector<std::string>& adapters,
                          AttentionKernel attention) {
  LoadedFixture f;
  auto config = LoadModelConfig(FixtureModelDir(name));
  EXPECT_TRUE(config.ok()) << config.status();
  f.config = *config;
  auto checkpoint = SafetensorsCheckpoint::Open(FixtureModelDir(name));
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto model = LlamaModel::Load(f.config, **checkpoint, torch::kCPU,
                                torch::kFloat32, kMaxSeqLen);
  EXPECT_TRUE(model.ok()) << model.status();
  f.model = *std::move(model);
  f.model->set_attention_kernel(attention);
  f.bank = std::make_unique<LoraBank>(f.config, /*num_slots=*/4,
                                      /*max_rank=*/32, torch::kCPU,
                                      torch::kFloat32);
  int64_t slot = 0;
  for (const std::string& adapter : adapters) {
    auto files = LoraAdapterFiles::Open(FixtureAdapterDir(name, adapter), f.config);
    EXPECT_TRUE(files.ok()) << files.status();
    auto host = HostAdapter::FromFiles(**files, torch::kFloat32);
    EXPECT_TRUE(host.ok()) << host.status();
    f.bank->Load(slot, **host);
    f.slot_of[adapter] = slot++;
  }
  return f;
}

std::vector<float> ToVector(const torch::Tensor& row) {
  torch::Tensor t = row.contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

// Runs all `cases` together: one prefill step for every prompt, then greedy
// decode steps; each case's sequence has its own KV slot and adapter.
void RunBatchAndCheck(LoadedFixture& f, const std::vector<FixtureCase>& cases) {
  c10::InferenceMode guard;
  KvCache kv(f.config, static_cast<int64_t>(cases.size()), kMaxSeqLen,
             torch::kCPU, torch::kFloat32);
  std::vector<int32_t> tokens;
  std::vector<ForwardRow> rows;
  for (size_t i = 0; i < cases.size(); ++i) {
    const FixtureCase& c = cases[i];
    tokens.insert(tokens.end(), c.prompt_ids.begin(), c.prompt_ids.end());
    const int64_t slot = c.adapter.empty() ? -1 : f.slot_of.at(c.adapter);
    rows.push_back(ForwardRow{static_cast<int64_t>(i), 0,
                              static_cast<int64_t>(c.prompt_ids.size()), slot,
                              true});
  }
  torch::Tensor logits = f.model->Forward(tokens, rows, kv, f.bank.get());
  ASSERT_EQ(logits.size(0), static_cast<int64_t>(cases.size()));
  std::vector<std::vector<int32_t>> generated(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_LT(MaxAbsDiff(ToVector(logits[i]), cases[i].last_logits),
              kLogitTolerance)
        << "case " << i << " adapter '" << cases[i].adapter << "' prompt len "
        << cases[i].prompt_ids.size();
  }
  const size_t steps = cases[0].greedy_ids.size();
  for (size_t step = 0; step < steps; ++step) {
    tokens.clear();
    for (size_t i = 0; i < cases.size(); ++i) {
      const int32_t next = static_cast<int32_t>(logits[i].argmax().item<int64_t>());
      generated[i].push_back(next);
      tokens.push_back(next);
      rows[i].start_pos += rows[i].num_tokens;
      rows[i].num_tokens = 1;
    }
    if (step + 1 < steps) logits = f.model->Forward(tokens, rows, kv, f.bank.get());
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(generated[i], cases[i].greedy_ids)
        << "case " << i << " adapter '" << cases[i].adapter << "'";
  }
}

std::vector<std::string> AdapterNames(const std::vector<FixtureCase>& cases) {
  std::vector<std::string> names;
  for (const FixtureCase& c : cases) {
    if (!c.adapter.empty() &&
        std::find(names.begin(), names.end(), c.adapter) == names.end()) {
      names.push_back(c.adapter);
    }
  }
  return names;
}

class FixtureModelTest : public ::testing::TestWithParam<
                             std::tuple<std::string, AttentionKernel>> {
 protected:
  const std::string& Model() const { return std::get<0>(GetParam()); }
  LoadedFixture Load(const std::vector<FixtureCase>& cases) const {
    return LoadFixture(Model(), AdapterNames(cases), std::get<1>(GetParam()));
  }
};

TEST_P(FixtureModelTest, EachCaseAloneMatchesReference) {
  const std::vector<FixtureCase> cases = LoadFixtureCases(Model());
  LoadedFixture f = Load(cases);
  for (const FixtureCase& c : cases) {
    SCOPED_TRACE("adapter '" + c.adapter + "' prompt len " +
                 std::to_string(c.prompt_ids.size()));
    RunBatchAndCheck(f, {c});
  }
}

TEST_P(FixtureModelTest, AllCasesInOneMixedBatchMatchReference) {
  const std::vector<FixtureCase> cases = LoadFixtureCases(Model());
  LoadedFixture f = Load(cases);
  RunBatchAndCheck(f, cases);
}

TEST_P(FixtureModelTest, ChunkedPrefillEqualsWholePrefill) {
  c10::InferenceMode guard;
  const std::vector<FixtureCase> cases = LoadFixtureCases(Model());
  LoadedFixture f = Load(cases);
  for (const FixtureCase& c : cases) {
    if (c.prompt_ids.size() < 5) continue;
    KvCache kv(f.config, 2, kMaxSeqLen, torch::kCPU, torch::kFloat32);
    const int64_t slot = c.adapter.empty() ? -1 : f.slot_of.at(c.adapter);
    // Prefill in chunks of 3 tokens, in a batch next to an unrelated row.
    int64_t pos = 0;
    torch::Tensor logits;
    const int64_t n = static_cast<int64_t>(c.prompt_ids.size());
    while (pos < n) {
      const int64_t chunk = std::min<int64_t>(3, n - pos);
      std::vector<int32_t> tokens(c.prompt_ids.begin() + pos,
                                  c.prompt_ids.begin() + pos + chunk);
      tokens.push_back(7);  // The neighbour's decode token.
      std::vector<ForwardRow> rows = {
          ForwardRow{0, pos, chunk, slot, pos + chunk == n},
          ForwardRow{1, pos, 1, -1, true}};
      logits = f.model->Forward(tokens, rows, kv, f.bank.get());
      pos += chunk;
    }
    EXPECT_LT(MaxAbsDiff(ToVector(logits[0]), c.last_logits), kLogitTolerance)
        << "adapter '" << c.adapter << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(
    HfDev, FixtureModelTest,
    ::testing::Combine(::testing::Values("llama-gqa", "qwen2-bias"),
                       ::testing::Values(AttentionKernel::kPaged,
                                         AttentionKernel::kGather)),
    [](const ::testing::TestParamInfo<FixtureModelTest::ParamType>&
           param_info) {
      std::string name =
          std::get<0>(param_info.param) +
          (std::get<1>(param_info.param) == AttentionKernel::kPaged
               ? "_paged"
               : "_gather");
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace loraplex::engine
