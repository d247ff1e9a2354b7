// KvCache (Note [Paged KV cache]): blocks follow the tokens a sequence has,
// reservations keep admitted sequences from running out, and released
// blocks go back to the pool.
#include "engine/runtime/kv_cache.h"

#include <set>

#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

constexpr int64_t kBlock = KvCache::kBlockTokens;

ModelConfig TinyConfig() {
  ModelConfig config;
  config.num_hidden_layers = 2;
  config.num_key_value_heads = 2;
  config.head_dim = 4;
  return config;
}

TEST(KvCacheTest, ASequenceHoldsBlocksForTheTokensItHas) {
  KvCache kv(TinyConfig(), /*num_slots=*/4, /*max_seq_len=*/8 * kBlock,
             torch::kCPU, torch::kFloat32);
  EXPECT_EQ(kv.capacity_tokens(), 4 * 8 * kBlock);
  EXPECT_EQ(kv.keys(0).sizes(), (std::vector<int64_t>{32, kBlock, 2, 4}));
  const std::optional<int64_t> slot = kv.Allocate(8 * kBlock);
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(kv.tokens_in_use(), 0);
  EXPECT_EQ(kv.tokens_reserved(), 8 * kBlock);
  ASSERT_TRUE(kv.Grow(*slot, 1));
  EXPECT_EQ(kv.block_table(*slot).size(), 1u);
  ASSERT_TRUE(kv.Grow(*slot, kBlock + 1));
  EXPECT_EQ(kv.block_table(*slot).size(), 2u);
  EXPECT_EQ(kv.tokens_in_use(), 2 * kBlock);
  EXPECT_EQ(kv.tokens_reserved(), 8 * kBlock);   // Assigned ones included.
  EXPECT_FALSE(kv.Grow(*slot, 8 * kBlock + 1));  // Past max_seq_len.
  kv.Release(*slot);
  EXPECT_EQ(kv.tokens_in_use(), 0);
  EXPECT_EQ(kv.tokens_reserved(), 0);
  EXPECT_EQ(kv.slots_in_use(), 0);
}

TEST(KvCacheTest, ByDefaultEverySlotReachesMaxSeqLenAtOnce) {
  // 17 tokens take two blocks each: three slots need six, not
  // ceil(3 x 17 / 16) = four.
  KvCache kv(TinyConfig(), /*num_slots=*/3, /*max_seq_len=*/17, torch::kCPU,
             torch::kFloat32);
  for (int64_t slot = 0; slot < 3; ++slot) {
    EXPECT_TRUE(kv.Grow(slot, 17)) << "slot " << slot;
  }
  EXPECT_EQ(kv.tokens_in_use(), 6 * kBlock);
}

TEST(KvCacheTest, ReservationsBoundAdmissionAndGrowth) {
  // Four blocks for four slots of up to four blocks each.
  KvCache kv(TinyConfig(), /*num_slots=*/4, /*max_seq_len=*/4 * kBlock,
             torch::kCPU, torch::kFloat32, /*capacity_tokens=*/4 * kBlock);
  const std::optional<int64_t> a = kv.Allocate(2 * kBlock + 1);  // 3 blocks.
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(kv.Allocate(2 * kBlock).has_value());  // One block is left.
  const std::optional<int64_t> b = kv.Allocate(kBlock);
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(kv.Allocate(1).has_value());
  // `a` may grow through its reservation even while `b` has assigned none
  // of its own, and no further: `b`'s block stays `b`'s.
  EXPECT_TRUE(kv.Grow(*a, 3 * kBlock));
  EXPECT_FALSE(kv.Grow(*a, 3 * kBlock + 1));
  EXPECT_TRUE(kv.Grow(*b, kBlock));
  kv.Release(*a);
  EXPECT_EQ(kv.tokens_in_use(), kBlock);
  const std::optional<int64_t> c = kv.Allocate(3 * kBlock);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(kv.Grow(*c, 3 * kBlock));
  // Every block is owned by exactly one sequence.
  std::set<int64_t> owned(kv.block_table(*b).begin(), kv.block_table(*b).end());
  for (int64_t block : kv.block_table(*c)) {
    EXPECT_TRUE(owned.insert(block).second) << "block " << block << " shared";
  }
  EXPECT_EQ(owned.size(), 4u);
}

TEST(KvCacheTest, MemoryFollowsTokensNotMaxSeqLen) {
  // The memory of two max_seq_len sequences holds sixteen of one block.
  const int64_t max_seq_len = 8 * kBlock;
  KvCache kv(TinyConfig(), /*num_slots=*/16, max_seq_len, torch::kCPU,
             torch::kFloat32, /*capacity_tokens=*/2 * max_seq_len);
  for (int i = 0; i < 16; ++i) {
    const std::optional<int64_t> slot = kv.Allocate(kBlock);
    ASSERT_TRUE(slot.has_value()) << "sequence " << i;
    ASSERT_TRUE(kv.Grow(*slot, kBlock));
  }
  EXPECT_EQ(kv.tokens_in_use(), 16 * kBlock);
  EXPECT_EQ(kv.bytes(), 2u * 2 * 16 * kBlock * 2 * 4 * sizeof(float));
}

TEST(KvCacheTest, SlotsUsedWithoutAllocateGrowFromTheFreePool) {
  KvCache kv(TinyConfig(), /*num_slots=*/2, /*max_seq_len=*/2 * kBlock,
             torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(kv.Grow(1, 2 * kBlock));
  EXPECT_EQ(kv.slots_in_use(), 1);
  const std::optional<int64_t> other = kv.Allocate();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(*other, 0);
  EXPECT_FALSE(kv.Allocate().has_value());
}

}  // namespace
}  // namespace loraplex::engine
