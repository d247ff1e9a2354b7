// Note [Rank rows] (engine/runtime/lora_bank.h): device memory per adapter
// is proportional to its rank, rows are reused whole, and row 0 stays zero.
#include "engine/runtime/lora_bank.h"

#include <torch/torch.h>

#include <stdexcept>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/runtime/host_adapter.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"

namespace loraplex::engine {
namespace {

constexpr char kModel[] = "llama-gqa";

ModelConfig FixtureConfig() {
  auto config = LoadModelConfig(testing::FixtureModelDir(kModel));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// A module with weights in [1, 2) (never zero, so a zero read means a zero
// row).
HostLoraModule Module(const ModelConfig& config, int64_t layer, LinearKind kind,
                      int64_t rank) {
  const LinearShape shape = LinearShapeOf(config, kind);
  HostLoraModule module;
  module.layer = layer;
  module.kind = kind;
  module.rank = rank;
  module.a = torch::rand({rank, shape.in_features}) + 1;
  module.b_scaled = torch::rand({shape.out_features, rank}) + 1;
  return module;
}

// An adapter of `rank` on `kinds` in every layer.
std::shared_ptr<const HostAdapter> Adapter(
    const ModelConfig& config, int64_t rank,
    const std::vector<LinearKind>& kinds) {
  std::vector<HostLoraModule> modules;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    for (LinearKind kind : kinds) {
      modules.push_back(Module(config, layer, kind, rank));
    }
  }
  return HostAdapter::FromModules(std::move(modules));
}

std::vector<LinearKind> AllKinds() {
  std::vector<LinearKind> kinds;
  for (int k = 0; k < kNumLinearKinds; ++k) {
    kinds.push_back(static_cast<LinearKind>(k));
  }
  return kinds;
}

TEST(LoraBankTest, HoldsAdaptersInProportionToTheirRank) {
  const ModelConfig config = FixtureConfig();
  // Sized for two adapters of rank 16: 32 rank rows.
  LoraBank bank(config, /*max_rank_adapters=*/2, /*max_rank=*/16, torch::kCPU,
                torch::kFloat32);
  EXPECT_EQ(bank.capacity_rows(), 32);
  const auto rank4 = Adapter(config, 4, AllKinds());
  for (int64_t slot = 0; slot < 8; ++slot) {
    bank.Load(slot, *rank4);
    EXPECT_EQ(bank.slot_rank(slot), 4);
  }
  EXPECT_EQ(bank.free_rows(), 0);
  EXPECT_THROW(bank.Load(8, *rank4), std::invalid_argument);
  EXPECT_EQ(bank.slot_rank(8), 0);
  // Two rank-4 adapters out make room for one of rank 8, not 16.
  bank.Clear(0);
  bank.Clear(5);
  EXPECT_EQ(bank.free_rows(), 8);
  EXPECT_THROW(bank.Load(9, *Adapter(config, 16, AllKinds())),
               std::invalid_argument);
  bank.Load(9, *Adapter(config, 8, AllKinds()));
  EXPECT_EQ(bank.free_rows(), 0);
  // The rank limit holds even with rows to spare.
  LoraBank roomy(config, 4, 8, torch::kCPU, torch::kFloat32);
  EXPECT_THROW(roomy.Load(0, *Adapter(config, 16, AllKinds())),
               std::invalid_argument);
  EXPECT_EQ(roomy.free_rows(), 32);
}

TEST(LoraBankTest, ReusedRowsHoldOnlyTheNewAdapter) {
  const ModelConfig config = FixtureConfig();
  LoraBank bank(config, 1, 16, torch::kCPU, torch::kFloat32);
  bank.Load(0, *Adapter(config, 16, AllKinds()));
  bank.Clear(0);
  // Rank 4 on q only, in rows the rank-16 adapter wrote on every kind.
  const auto q4 = Adapter(config, 4, {LinearKind::kQ});
  bank.Load(1, *q4);
  const std::vector<int64_t>& rows = bank.slot_rows(1);
  ASSERT_EQ(rows.size(), 4u);
  const torch::Tensor index = torch::tensor(rows, torch::kInt64);
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearKind kind = static_cast<LinearKind>(k);
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
      const torch::Tensor a = bank.a(kind, layer).index_select(0, index);
      const torch::Tensor bt =
          bank.b_transposed(kind, layer).index_select(0, index);
      if (kind == LinearKind::kQ) {
        const HostLoraModule& module = q4->modules()[layer];
        EXPECT_TRUE(torch::equal(a, module.a));
        EXPECT_TRUE(torch::equal(bt, module.b_scaled.t()));
      } else {
        EXPECT_EQ(a.abs().sum().item<float>(), 0) << "kind " << k;
        EXPECT_EQ(bt.abs().sum().item<float>(), 0) << "kind " << k;
      }
      // Row 0 pads lanes of lower rank: it must stay zero.
      EXPECT_EQ(bank.a(kind, layer)[0].abs().sum().item<float>(), 0);
      EXPECT_EQ(bank.b_transposed(kind, layer)[0].abs().sum().item<float>(), 0);
    }
  }
  EXPECT_TRUE(bank.slot_targets(1, LinearKind::kQ));
  EXPECT_FALSE(bank.slot_targets(1, LinearKind::kV));
}

TEST(LoraBankTest, ModuleRowsPastTheirOwnRankAreZero) {
  // rank_pattern: a rank-2 module in a rank-8 adapter uses rows 0-1 of its
  // eight; rows 2-7 of that kind must not keep an earlier adapter's values.
  const ModelConfig config = FixtureConfig();
  LoraBank bank(config, 1, 8, torch::kCPU, torch::kFloat32);
  bank.Load(0, *Adapter(config, 8, AllKinds()));
  std::vector<HostLoraModule> modules;
  modules.push_back(Module(config, 0, LinearKind::kQ, 8));
  modules.push_back(Module(config, 0, LinearKind::kV, 2));
  const auto mixed = HostAdapter::FromModules(std::move(modules));
  bank.Load(0, *mixed);
  const torch::Tensor rows = torch::tensor(bank.slot_rows(0), torch::kInt64);
  const torch::Tensor v = bank.a(LinearKind::kV, 0).index_select(0, rows);
  EXPECT_TRUE(torch::equal(v.narrow(0, 0, 2), mixed->modules()[1].a));
  EXPECT_EQ(v.narrow(0, 2, 6).abs().sum().item<float>(), 0);
}

}  // namespace
}  // namespace loraplex::engine
