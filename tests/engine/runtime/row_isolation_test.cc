// Note [Row isolation] (engine/runtime/llama_model.cc) at the model level: a
// row's outputs never depend on KV memory past its own length nor on another
// row's non-finite values. Rows are driven by hand so the test controls the
// KV slots, including a slot whose previous occupant wrote Inf/NaN.
#include <torch/torch.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"

namespace loraplex::engine {
namespace {

using testing::FixtureAdapterDir;
using testing::FixtureCase;
using testing::FixtureModelDir;
using testing::LoadFixtureCases;
using testing::MaxAbsDiff;

constexpr int64_t kMaxSeqLen = 64;
constexpr float kLogitTolerance = 1e-4f;
constexpr char kModel[] = "llama-gqa";

const FixtureCase& FindCase(const std::vector<FixtureCase>& cases,
                            const std::string& adapter, size_t prompt_len) {
  for (const FixtureCase& c : cases) {
    if (c.adapter == adapter && c.prompt_ids.size() == prompt_len) return c;
  }
  ADD_FAILURE() << "no case " << adapter << "/" << prompt_len;
  return cases[0];
}

std::vector<float> ToVector(const torch::Tensor& row) {
  torch::Tensor t = row.contiguous();
  return std::vector<float>(t.data_ptr<float>(),
                            t.data_ptr<float>() + t.numel());
}

// Run with each way attention reads the KV cache (AttentionKernel).
class RowIsolationTest : public ::testing::TestWithParam<AttentionKernel> {
 protected:
  void SetUp() override {
    cases_ = LoadFixtureCases(kModel);
    auto config = LoadModelConfig(FixtureModelDir(kModel));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    auto checkpoint = SafetensorsCheckpoint::Open(FixtureModelDir(kModel));
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    auto model = LlamaModel::Load(config_, **checkpoint, torch::kCPU,
                                  torch::kFloat32, kMaxSeqLen);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    model_->set_attention_kernel(GetParam());
    bank_ = std::make_unique<LoraBank>(config_, /*num_slots=*/4,
                                       /*max_rank=*/16, torch::kCPU,
                                       torch::kFloat32);
    bank_->Load(kQvSlot, *ReadAdapter("qv-r8"));
    bank_->Load(kAttnSlot, *ReadAdapter("attn-r4-rslora"));
    const auto all = ReadAdapter("all-r16");
    bank_->Load(kAllSlot, *all);
    bank_->Load(kPoisonedSlot, *Poisoned(*all));
  }

  std::shared_ptr<const HostAdapter> ReadAdapter(const std::string& name) {
    auto files =
        LoraAdapterFiles::Open(FixtureAdapterDir(kModel, name), config_);
    EXPECT_TRUE(files.ok()) << files.status();
    auto host = HostAdapter::FromFiles(**files, torch::kFloat32);
    EXPECT_TRUE(host.ok()) << host.status();
    return *host;
  }

  // `adapter` with infinite k_proj/v_proj updates: the keys and values its
  // rows write are Inf/NaN, as with an adapter whose weights overflow.
  static std::shared_ptr<const HostAdapter> Poisoned(
      const HostAdapter& adapter) {
    std::vector<HostLoraModule> modules;
    for (const HostLoraModule& m : adapter.modules()) {
      HostLoraModule copy = m;
      if (m.kind == LinearKind::kK || m.kind == LinearKind::kV) {
        copy.b_scaled = m.b_scaled * std::numeric_limits<float>::infinity();
      }
      modules.push_back(std::move(copy));
    }
    return HostAdapter::FromModules(std::move(modules));
  }

  // One hand-driven sequence.
  struct Row {
    Row(int64_t kv, int64_t lora, std::vector<int32_t> prompt_ids)
        : kv_slot(kv), lora_slot(lora), prompt(std::move(prompt_ids)) {}
    int64_t kv_slot = 0;
    int64_t lora_slot = -1;
    std::vector<int32_t> prompt;
    int64_t pos = 0;                    // Tokens in the KV cache.
    std::vector<int32_t> generated;     // Greedy tokens.
    std::vector<torch::Tensor> logits;  // One [vocab] tensor per step.
  };

  // One forward step: rows not yet prefilled send their whole prompt, the
  // others their last token; each row gets its logits and greedy token.
  void Step(KvCache& kv, const std::vector<Row*>& rows) {
    std::vector<int32_t> tokens;
    std::vector<ForwardRow> forward;
    for (Row* r : rows) {
      if (r->pos == 0) {
        tokens.insert(tokens.end(), r->prompt.begin(), r->prompt.end());
        forward.push_back(ForwardRow{r->kv_slot, 0,
                                     static_cast<int64_t>(r->prompt.size()),
                                     r->lora_slot, true});
      } else {
        tokens.push_back(r->generated.back());
        forward.push_back(
            ForwardRow{r->kv_slot, r->pos, 1, r->lora_slot, true});
      }
    }
    torch::Tensor logits = model_->Forward(tokens, forward, kv, bank_.get());
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i]->pos += forward[i].num_tokens;
      rows[i]->logits.push_back(logits[i].clone());
      rows[i]->generated.push_back(
          static_cast<int32_t>(logits[i].argmax().item<int64_t>()));
    }
  }

  // Expects `row` to reproduce the reference case: first logits within
  // tolerance, greedy tokens equal.
  static void ExpectMatchesReference(const Row& row, const FixtureCase& c) {
    ASSERT_FALSE(row.logits.empty());
    EXPECT_LT(MaxAbsDiff(ToVector(row.logits[0]), c.last_logits),
              kLogitTolerance);
    ASSERT_GE(row.generated.size(), c.greedy_ids.size());
    EXPECT_EQ(std::vector<int32_t>(row.generated.begin(),
                                   row.generated.begin() + c.greedy_ids.size()),
              c.greedy_ids);
  }

  static void ExpectBitwiseEqual(const Row& a, const Row& b,
                                 const std::string& what) {
    ASSERT_EQ(a.logits.size(), b.logits.size()) << what;
    for (size_t s = 0; s < a.logits.size(); ++s) {
      EXPECT_TRUE(torch::equal(a.logits[s], b.logits[s]))
          << what << ": step " << s << " differs";
    }
  }

  static constexpr int64_t kQvSlot = 0;
  static constexpr int64_t kAttnSlot = 1;
  static constexpr int64_t kAllSlot = 2;
  static constexpr int64_t kPoisonedSlot = 3;

  c10::InferenceMode inference_mode_;
  std::vector<FixtureCase> cases_;
  ModelConfig config_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<LoraBank> bank_;
};

TEST_P(RowIsolationTest, StaleNonFiniteKvPastARowsLengthIsNeverRead) {
  const FixtureCase& long_case = FindCase(cases_, "qv-r8", 23);
  const FixtureCase& short_case = FindCase(cases_, "all-r16", 1);
  // Every block holds what a previous owner left: zeros (a fresh cache) or
  // NaN (an overflowing adapter). The long row makes every step of the
  // gather path read 23+ positions through the short row's block table.
  auto run = [&](float stale) {
    KvCache kv(config_, /*num_slots=*/2, kMaxSeqLen, torch::kCPU,
               torch::kFloat32);
    for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
      kv.keys(l).fill_(stale);
      kv.values(l).fill_(stale);
    }
    Row long_row{0, kQvSlot, long_case.prompt_ids};
    Row short_row{1, kAllSlot, short_case.prompt_ids};
    for (size_t step = 0; step < short_case.greedy_ids.size(); ++step) {
      Step(kv, {&long_row, &short_row});
    }
    return std::make_pair(long_row, short_row);
  };
  const auto [long_clean, short_clean] = run(0.0f);
  const auto [long_stale, short_stale] =
      run(std::numeric_limits<float>::quiet_NaN());
  ExpectMatchesReference(short_stale, short_case);
  ExpectMatchesReference(long_stale, long_case);
  ExpectBitwiseEqual(short_stale, short_clean, "row over a NaN slot");
  ExpectBitwiseEqual(long_stale, long_clean, "neighbour row");
}

TEST_P(RowIsolationTest, PoisonedAdapterRowsChangeNoOtherRow) {
  const FixtureCase& a_case = FindCase(cases_, "qv-r8", 7);
  const FixtureCase& bad_case = FindCase(cases_, "all-r16", 7);
  const FixtureCase& c_case = FindCase(cases_, "all-r16", 23);
  const FixtureCase& d_case = FindCase(cases_, "attn-r4-rslora", 1);
  struct Outcome {
    Row a, bad, c, d;
  };
  // Phase 1: the "bad" row (poisoned, or the benign adapter it was made
  // from) in one batch with two clean rows. Phase 2: it leaves, and a new
  // clean row takes its KV slot while the other two keep the batch running
  // (so every step reads past the new row's length in that slot).
  auto run = [&](int64_t bad_lora_slot) {
    KvCache kv(config_, /*num_slots=*/3, kMaxSeqLen, torch::kCPU,
               torch::kFloat32);
    Outcome o{Row{0, kQvSlot, a_case.prompt_ids},
              Row{1, bad_lora_slot, bad_case.prompt_ids},
              Row{2, kAllSlot, c_case.prompt_ids},
              Row{1, kAttnSlot, d_case.prompt_ids}};
    for (int step = 0; step < 4; ++step) Step(kv, {&o.a, &o.bad, &o.c});
    for (size_t step = 0; step < d_case.greedy_ids.size(); ++step) {
      Step(kv, {&o.a, &o.d, &o.c});
    }
    return o;
  };
  const Outcome poisoned = run(kPoisonedSlot);
  const Outcome benign = run(kAllSlot);
  // The poison works: its own outputs are not finite.
  EXPECT_FALSE(torch::isfinite(poisoned.bad.logits[0]).all().item<bool>());
  ExpectMatchesReference(poisoned.a, a_case);
  ExpectMatchesReference(poisoned.c, c_case);
  ExpectMatchesReference(poisoned.d, d_case);
  ExpectBitwiseEqual(poisoned.a, benign.a, "row beside the poisoned one");
  ExpectBitwiseEqual(poisoned.c, benign.c, "row beside the poisoned one");
  ExpectBitwiseEqual(poisoned.d, benign.d, "row in the poisoned row's slot");
}

INSTANTIATE_TEST_SUITE_P(
    AttentionKernels, RowIsolationTest,
    ::testing::Values(AttentionKernel::kPaged, AttentionKernel::kGather),
    [](const ::testing::TestParamInfo<AttentionKernel>& param_info) {
      return std::string(
          param_info.param == AttentionKernel::kPaged ? "Paged" : "Gather");
    });

}  // namespace
}  // namespace loraplex::engine
