// PagedAttention (Note [Paged attention]) against attention computed densely
// with LibTorch ops from each row's keys and values in position order: rows
// of different lengths, decode and prompt-chunk tokens, grouped-query heads,
// a sliding window, block tables in shuffled order, and positions the rows
// do not own holding Inf.
#include "engine/runtime/paged_attention.h"

#include <limits>
#include <optional>
#include <vector>

#include "engine/runtime/kv_cache.h"
#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

constexpr int64_t kBlock = KvCache::kBlockTokens;
constexpr int64_t kHeads = 8, kKvHeads = 2, kHeadDim = 16;

struct Row {
  int64_t start;   // Positions already in the cache.
  int64_t tokens;  // New tokens of this step.
};

// softmax(q k^T / sqrt(d)) v for one token's query heads, keys/values in
// position order [n, kv_heads, d], visible positions [lo, p].
torch::Tensor DenseAttention(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, int64_t lo, int64_t p) {
  const int64_t group = kHeads / kKvHeads;
  torch::Tensor keys = k.slice(0, lo, p + 1)
                           .repeat_interleave(group, 1)
                           .to(torch::kFloat32);  // [n, heads, d]
  torch::Tensor values =
      v.slice(0, lo, p + 1).repeat_interleave(group, 1).to(torch::kFloat32);
  torch::Tensor scores =
      torch::einsum("hd,nhd->hn", {q.to(torch::kFloat32), keys}) /
      std::sqrt(static_cast<double>(kHeadDim));
  return torch::einsum("hn,nhd->hd", {torch::softmax(scores, -1), values})
      .reshape({-1});
}

void CheckAgainstDense(torch::Dtype dtype, std::optional<int64_t> window,
                       double tolerance) {
  torch::manual_seed(7);
  const std::vector<Row> rows = {{0, 1}, {40, 1}, {3, 20}, {70, 1}, {0, 33}};
  int64_t blocks_needed = 0;
  for (const Row& row : rows) {
    blocks_needed += (row.start + row.tokens + kBlock - 1) / kBlock;
  }
  const int64_t num_blocks = blocks_needed + 5;
  // Every position starts as Inf: a read of anything a row does not own
  // shows up as a non-finite output.
  torch::Tensor keys = torch::full({num_blocks, kBlock, kKvHeads, kHeadDim},
                                   std::numeric_limits<float>::infinity(),
                                   torch::TensorOptions().dtype(dtype));
  torch::Tensor values = keys.clone();
  // Blocks handed out in a shuffled order, so tables are not runs.
  torch::Tensor order = torch::randperm(num_blocks, torch::kInt64);
  int64_t next_block = 0;
  std::vector<std::vector<int64_t>> tables;
  std::vector<torch::Tensor> dense_k, dense_v;
  std::vector<int64_t> token_rows, positions;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t length = rows[r].start + rows[r].tokens;
    std::vector<int64_t> table;
    for (int64_t b = 0; b < (length + kBlock - 1) / kBlock; ++b) {
      table.push_back(order[next_block++].item<int64_t>());
    }
    torch::Tensor k = torch::randn({length, kKvHeads, kHeadDim}).to(dtype);
    torch::Tensor v = torch::randn({length, kKvHeads, kHeadDim}).to(dtype);
    for (int64_t pos = 0; pos < length; ++pos) {
      keys[table[pos / kBlock]][pos % kBlock] = k[pos];
      values[table[pos / kBlock]][pos % kBlock] = v[pos];
    }
    tables.push_back(table);
    dense_k.push_back(k);
    dense_v.push_back(v);
    for (int64_t i = 0; i < rows[r].tokens; ++i) {
      token_rows.push_back(static_cast<int64_t>(r));
      positions.push_back(rows[r].start + i);
    }
  }
  const int64_t T = static_cast<int64_t>(positions.size());
  torch::Tensor q = torch::randn({T, kHeads, kHeadDim}).to(dtype);
  std::vector<const std::vector<int64_t>*> table_ptrs;
  for (const auto& table : tables) table_ptrs.push_back(&table);

  torch::Tensor out = PagedAttention(q, keys, values, token_rows, positions,
                                     table_ptrs, window);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{T, kHeads * kHeadDim}));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = positions[t];
    const int64_t lo = window ? std::max<int64_t>(0, p - *window + 1) : 0;
    torch::Tensor expected = DenseAttention(q[t], dense_k[token_rows[t]],
                                            dense_v[token_rows[t]], lo, p);
    torch::Tensor got = out[t].to(torch::kFloat32);
    ASSERT_TRUE(torch::isfinite(got).all().item<bool>()) << "token " << t;
    EXPECT_LT((got - expected).abs().max().item<float>(), tolerance)
        << "token " << t << " (row " << token_rows[t] << ", position " << p
        << ")";
  }
}

TEST(PagedAttentionTest, MatchesDenseAttentionFloat32) {
  CheckAgainstDense(torch::kFloat32, std::nullopt, 1e-5);
}

TEST(PagedAttentionTest, MatchesDenseAttentionWithASlidingWindow) {
  CheckAgainstDense(torch::kFloat32, /*window=*/5, 1e-5);
}

TEST(PagedAttentionTest, MatchesDenseAttentionBfloat16) {
  // bfloat16 rounds scores and probabilities as Hugging Face does; the
  // dense reference does not, so the bound is a few bfloat16 ulps.
  CheckAgainstDense(torch::kBFloat16, std::nullopt, 5e-2);
}

}  // namespace
}  // namespace loraplex::engine
