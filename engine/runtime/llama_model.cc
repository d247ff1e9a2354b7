// LlamaModel's forward step. See Note [Ragged batches] for the layout.
#include "engine/runtime/llama_model.h"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <tuple>

#include "engine/runtime/paged_attention.h"
#include "engine/runtime/step_upload.h"

namespace loraplex::engine {

// Note [Ragged batches]
// A step mixes rows of different lengths: decode rows add one token, prefill
// rows add a chunk of their prompt. Token-wise work (linear layers, norms,
// RoPE) runs on the flat [T, hidden] tokens with no padding. Attention and
// the LoRA term need per-row structure: they scatter the row's tokens into a
// padded [rows, max_new_tokens, ...] layout (`pad_index`), compute, and
// gather back. When every row has the same length (every decode step) the
// padded layout *is* the flat one and no copies are made.
//
// LoRA: each (row, adapter) pair is a lane (Note [Adapter mixing]). Lanes
// are grouped by length class (single-token rows and multi-token rows), so
// decode rows are never padded to a prompt chunk's length, and by rank
// class (RankClass: the next power of two), so a rank-4 lane is never
// padded to 64 rows by a rank-64 one. Each group gathers its lanes' A and
// B rows from the LoraBank (Note [Rank rows] in lora_bank.h) and applies
// them with two batched matmuls:
//   delta[g] = (x[g] A[rows_g]^T) Bt[rows_g]      (B already scaled)
// at the group's largest rank; a lane of lower rank is padded with the
// bank's zero row. A linear kind that none of a group's adapters targets is
// skipped. Measured (bench/README.md, "Rank-aware device memory"): one
// batch of ranks 4, 8, 16 and 64 decodes at 0.95 of the speed of one of all
// rank 16 with rank classes, 0.79 when padded to the largest rank.

// Note [Adapter mixing]
// A request may mix adapters: its row computes
//   base(x) + sum_i w_i * delta_i(x)
// in the same batch as every other row, with no merged weights. A row
// contributes one lane per adapter it uses: `lora_slot` (weight 1, the
// plain single-adapter path) first, then each term of `lora_mix`. Lane j of
// every row goes to the groups of lane index j, so within a group each
// token appears once and index_add_ has no duplicate indices (its result is
// then deterministic on every device, also with atomics). A group whose
// lanes all have weight 1 adds its deltas as they are; otherwise each
// lane's delta is multiplied by its weight in float32 (exact for weight 1,
// so a row with one adapter at weight 1 gets the same bits as the plain
// path) before it is added. Adapters with different ranks and targets mix
// freely: ranks are padded with the zero row, and a kind an adapter does
// not target is zero in its rows, so a module adapted by only some of the
// mixed adapters gets only their terms. Each lane reads only its own row's
// tokens and writes only into them, so Note [Row isolation] holds per lane.

// Note [Row isolation]
// A row's result must never depend on memory it does not own, or one
// tenant's bad adapter (weights that overflow to Inf/NaN) could corrupt
// another tenant's output. Every op of a step is row-local (per-token
// linear layers, norms and RoPE; attention and LoRA as batched matmuls with
// one batch entry per row), except for what a row *reads*. The paged
// attention kernel (Note [Paged attention]) reads only the row's own
// positions; the gather path (AttentionKernel::kGather) reads more:
//  * KV positions beyond the row's own length. The gather path copies keys
//    and values [0, k_width) through the row's block table, and k_width is
//    the longest row of the step; the positions past the row's own length
//    hold whatever a block's previous owner wrote, or whatever block 0
//    holds where the table is padded (possibly Inf/NaN). Masking their
//    scores to -inf gives them probability 0, but 0 * Inf = NaN in probs.V,
//    so the gathered values there are zeroed (`foreign_kv`). That is exact:
//    a finite stale value times probability 0 was 0 already. Their keys are
//    masked for every query lane, padded lanes included (masked_fill
//    overwrites, so a non-finite stale key never survives into a score).
//    Zeroing the gathered copy costs one pass over it per layer and needs
//    no bookkeeping; clearing a slot when it is reused would cost
//    max_seq_len positions per admission and trust every writer.
//  * Padded lanes. Query lanes past a row's length (when the step mixes
//    lengths) and padded LoRA lanes are zero inputs in the row's own batch
//    entry; whatever they compute (0 * Inf = NaN when the row's own adapter
//    or keys overflow) stays in that entry and is dropped by the
//    index_select back to the flat layout, before any op that mixes rows.
// A row whose own outputs are not finite is failed by the engine (see
// EngineImpl::Step), never sampled.

struct LlamaModel::LoraGroup {
  torch::Tensor rows_index;   // [G * rank] LoraBank rows, `rank` per lane
  torch::Tensor token_index;  // [N] flat token ids of the group's tokens
  torch::Tensor pad_index;    // [N] positions in the [G * width] layout
  // [N, 1] float32 weight of each token's lane; undefined when all are 1.
  torch::Tensor weights;
  std::array<bool, kNumLinearKinds> kinds{};  // Targeted by a lane.
  int64_t rows = 0;                           // Lanes.
  int64_t width = 0;                          // Longest lane in the group.
  int64_t rank = 0;                           // Largest rank of a lane.
};

// A LoRA group as Plan collects it, before its indices go to the device.
struct LlamaModel::LoraGroupBuild {
  std::vector<int64_t> slots, token_index, pad_index;
  int64_t rank = 0;
  std::vector<const ForwardRow*> rows;
  std::vector<int64_t> first_token;
  std::vector<float> weights;  // Per lane.
  std::array<bool, kNumLinearKinds> kinds{};
  int64_t width = 0;
};

struct LlamaModel::StepPlan {
  int64_t num_tokens = 0;
  int64_t num_rows = 0;
  int64_t q_width = 0;        // Longest row (padded query length).
  int64_t k_width = 0;        // Longest key range (start_pos + num_tokens).
  bool padded = false;        // False when all rows have q_width tokens.
  bool paged = false;         // AttentionKernel::kPaged.
  torch::Tensor token_ids;    // [T] int64
  torch::Tensor positions;    // [T] int64
  // Where each token's K/V goes: [T] int64 block and position in it.
  torch::Tensor token_blocks;
  torch::Tensor token_offsets;
  // Paged attention's inputs, on the host: each token's row and position,
  // each row's block table (KvCache's own vectors, stable for the step).
  std::vector<int64_t> host_token_rows;
  std::vector<int64_t> host_positions;
  std::vector<const std::vector<int64_t>*> block_tables;
  // The gather path's inputs (undefined when paged).
  torch::Tensor row_blocks;   // [B * blocks per row] int64, 0-padded
  torch::Tensor row_start;    // [B] int64 first new position of each row
  torch::Tensor row_end;      // [B] int64 its end (start + new tokens)
  torch::Tensor pad_index;    // [T] index into [B * q_width]
  torch::Tensor attn_mask;    // [B, 1, 1, q_width, k_width] bool, true = masked
  // [B, k_width, 1, 1] bool, true at positions past the row's own length
  // (Note [Row isolation]); undefined when every row ends at k_width.
  torch::Tensor foreign_kv;
  std::array<bool, kNumLinearKinds> lora_kinds{};  // Targeted by a row.
  torch::Tensor logits_index;  // [R] flat index of each logits row's last token
  std::vector<LoraGroup> lora_groups;
};

namespace {

// Lanes are grouped by rank class (the next power of two at least the
// rank): a group's matmuls run at its largest rank, so a rank-4 lane is
// never padded beyond 4 rows by a rank-64 one (Note [Ragged batches]).
int64_t RankClass(int64_t rank) {
  int64_t rank_class = 1;
  while (rank_class < rank) rank_class *= 2;
  return rank_class;
}

}  // namespace

// The plan's index tensors, staged on the host and sent in one copy (Note
// [One upload per step] in step_upload.h): Stage names the plan field each
// vector becomes, Finish uploads and fills them in.
class LlamaModel::PlanUpload {
 public:
  void Stage(torch::Tensor* field, const std::vector<int64_t>& values) {
    fields_.emplace_back(field, upload_.Add(values));
  }
  void Finish(const torch::Device& device) {
    upload_.Upload(device);
    for (const auto& [field, handle] : fields_) *field = upload_.Get(handle);
  }

 private:
  StepUpload upload_;
  std::vector<std::pair<torch::Tensor*, StepUpload::Handle>> fields_;
};

AttentionKernel LlamaModel::attention_kernel() const {
  if (attention_kernel_ != AttentionKernel::kAuto) return attention_kernel_;
  return device_.is_cpu() ? AttentionKernel::kPaged : AttentionKernel::kGather;
}

LlamaModel::StepPlan LlamaModel::Plan(absl::Span<const int32_t> tokens,
                                      absl::Span<const ForwardRow> rows,
                                      KvCache& kv_cache,
                                      const LoraBank* lora) const {
  StepPlan plan;
  plan.paged = attention_kernel() == AttentionKernel::kPaged;
  TORCH_CHECK(!plan.paged || device_.is_cpu(),
              "paged attention runs on the CPU only");
  plan.num_tokens = static_cast<int64_t>(tokens.size());
  plan.num_rows = static_cast<int64_t>(rows.size());
  for (const ForwardRow& row : rows) {
    plan.q_width = std::max(plan.q_width, row.num_tokens);
    plan.k_width = std::max(plan.k_width, row.start_pos + row.num_tokens);
  }
  const int64_t T = plan.num_tokens;
  const int64_t B = plan.num_rows;
  plan.padded = T != B * plan.q_width;

  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  std::vector<int64_t> token_blocks, token_offsets, pad_index, row_start,
      row_end, logits_index;
  std::vector<int64_t>& positions = plan.host_positions;
  positions.reserve(T);
  plan.host_token_rows.reserve(T);
  token_blocks.reserve(T);
  token_offsets.reserve(T);
  pad_index.reserve(T);
  // Per LoRA group, keyed by (lane, 0: single-token rows / 1: multi-token
  // rows, rank class); Note [Adapter mixing].
  LoraGroupBuilds groups;
  auto add_lane = [&](const ForwardRow& row, int64_t first_token, size_t lane,
                      const LoraTerm& term) {
    const int64_t rank = lora->slot_rank(term.slot);
    LoraGroupBuild& g =
        groups[{lane, row.num_tokens > 1 ? 1 : 0, RankClass(rank)}];
    g.rows.push_back(&row);
    g.first_token.push_back(first_token);
    g.slots.push_back(term.slot);
    g.weights.push_back(term.weight);
    g.width = std::max(g.width, row.num_tokens);
    g.rank = std::max(g.rank, rank);
    for (int k = 0; k < kNumLinearKinds; ++k) {
      const bool targets =
          lora->slot_targets(term.slot, static_cast<LinearKind>(k));
      g.kinds[k] = g.kinds[k] || targets;
      plan.lora_kinds[k] = plan.lora_kinds[k] || targets;
    }
  };

  int64_t t = 0;
  for (int64_t b = 0; b < B; ++b) {
    const ForwardRow& row = rows[b];
    TORCH_CHECK(kv_cache.Grow(row.kv_slot, row.start_pos + row.num_tokens),
                "the KV cache has no room for positions up to ",
                row.start_pos + row.num_tokens, " of slot ", row.kv_slot);
    const std::vector<int64_t>& table = kv_cache.block_table(row.kv_slot);
    plan.block_tables.push_back(&table);
    row_start.push_back(row.start_pos);
    row_end.push_back(row.start_pos + row.num_tokens);
    for (int64_t i = 0; i < row.num_tokens; ++i) {
      const int64_t pos = row.start_pos + i;
      positions.push_back(pos);
      plan.host_token_rows.push_back(b);
      token_blocks.push_back(table[pos / KvCache::kBlockTokens]);
      token_offsets.push_back(pos % KvCache::kBlockTokens);
      pad_index.push_back(b * plan.q_width + i);
    }
    if (row.want_logits) logits_index.push_back(t + row.num_tokens - 1);
    if (lora != nullptr) {
      size_t lane = 0;
      if (row.lora_slot >= 0) add_lane(row, t, lane++, LoraTerm{row.lora_slot});
      for (const LoraTerm& term : row.lora_mix) add_lane(row, t, lane++, term);
    }
    t += row.num_tokens;
  }

  PlanUpload upload;
  upload.Stage(&plan.token_ids, ids);
  upload.Stage(&plan.positions, positions);
  upload.Stage(&plan.token_blocks, token_blocks);
  upload.Stage(&plan.token_offsets, token_offsets);
  upload.Stage(&plan.logits_index, logits_index);
  if (!plan.paged) {
    if (plan.padded) upload.Stage(&plan.pad_index, pad_index);
    upload.Stage(&plan.row_start, row_start);
    upload.Stage(&plan.row_end, row_end);
    upload.Stage(&plan.row_blocks, GatherBlocks(plan));
  }
  PlanLora(plan, groups, lora, upload);
  upload.Finish(device_);
  if (!plan.paged) {
    const bool ragged_ends =
        std::any_of(row_end.begin(), row_end.end(),
                    [&plan](int64_t end) { return end < plan.k_width; });
    PlanMasks(plan, ragged_ends);
  }
  return plan;
}

std::vector<int64_t> LlamaModel::GatherBlocks(const StepPlan& plan) const {
  // Every row's block table padded to the longest with block 0: the
  // positions they stand for are past the row's end, masked and zeroed
  // (PlanMasks).
  const int64_t row_blocks =
      (plan.k_width + KvCache::kBlockTokens - 1) / KvCache::kBlockTokens;
  std::vector<int64_t> blocks(plan.num_rows * row_blocks, 0);
  for (int64_t b = 0; b < plan.num_rows; ++b) {
    const std::vector<int64_t>& table = *plan.block_tables[b];
    const int64_t used = std::min<int64_t>(row_blocks, table.size());
    std::copy(table.begin(), table.begin() + used,
              blocks.begin() + b * row_blocks);
  }
  return blocks;
}

void LlamaModel::PlanMasks(StepPlan& plan, bool ragged_ends) const {
  const int64_t B = plan.num_rows;
  // Masked (true) where key j is not visible to query i of row b: j beyond
  // the query's position, outside Mistral's sliding window, or past the
  // row's own length (only padded query lanes reach that far; Note [Row
  // isolation]).
  torch::Tensor start = plan.row_start.view({B, 1, 1});
  torch::Tensor q_pos =
      start +
      torch::arange(plan.q_width, plan.token_ids.options()).view({1, -1, 1});
  torch::Tensor k_pos =
      torch::arange(plan.k_width, plan.token_ids.options()).view({1, 1, -1});
  torch::Tensor masked = k_pos > q_pos;
  if (config_.sliding_window) {
    masked = masked.logical_or(k_pos <= q_pos - *config_.sliding_window);
  }
  if (ragged_ends) {
    torch::Tensor foreign = k_pos >= plan.row_end.view({B, 1, 1});
    masked = masked.logical_or(foreign);
    plan.foreign_kv = foreign.view({B, plan.k_width, 1, 1});
  }
  plan.attn_mask = masked.view({B, 1, 1, plan.q_width, plan.k_width});
}

void LlamaModel::PlanLora(StepPlan& plan, LoraGroupBuilds& groups,
                          const LoraBank* lora, PlanUpload& upload) const {
  // Staged fields point into lora_groups: it must not reallocate.
  plan.lora_groups.reserve(groups.size());
  for (auto& [key, g] : groups) {
    if (g.rank == 0) continue;
    LoraGroup group;
    group.rows = static_cast<int64_t>(g.rows.size());
    group.width = g.width;
    group.rank = g.rank;
    std::vector<int64_t> rows_index;
    rows_index.reserve(group.rows * g.rank);
    for (int64_t slot : g.slots) {
      const std::vector<int64_t>& own = lora->slot_rows(slot);
      rows_index.insert(rows_index.end(), own.begin(), own.end());
      rows_index.resize(
          rows_index.size() + g.rank - static_cast<int64_t>(own.size()), 0);
    }
    group.kinds = g.kinds;
    const bool weighted = std::any_of(g.weights.begin(), g.weights.end(),
                                      [](float w) { return w != 1.0f; });
    std::vector<float> token_weights;
    for (int64_t r = 0; r < group.rows; ++r) {
      for (int64_t i = 0; i < g.rows[r]->num_tokens; ++i) {
        g.token_index.push_back(g.first_token[r] + i);
        g.pad_index.push_back(r * g.width + i);
        if (weighted) token_weights.push_back(g.weights[r]);
      }
    }
    if (weighted) {
      group.weights = torch::tensor(token_weights, torch::kFloat32)
                          .view({-1, 1})
                          .to(device_);
    }
    plan.lora_groups.push_back(std::move(group));
    LoraGroup& staged = plan.lora_groups.back();
    upload.Stage(&staged.rows_index, rows_index);
    upload.Stage(&staged.token_index, g.token_index);
    upload.Stage(&staged.pad_index, g.pad_index);
  }
}

torch::Tensor LlamaModel::RmsNorm(const torch::Tensor& x,
                                  const torch::Tensor& weight) const {
  // As HF: normalise in float32, cast back, then scale.
  torch::Tensor x32 = x.to(torch::kFloat32);
  torch::Tensor variance = x32.pow(2).mean(-1, /*keepdim=*/true);
  x32 = x32 * torch::rsqrt(variance + config_.rms_norm_eps);
  return weight * x32.to(x.scalar_type());
}

void LlamaModel::AddLora(const StepPlan& plan, const LoraBank& lora,
                         LinearKind kind, int64_t layer, const torch::Tensor& x,
                         torch::Tensor out) const {
  if (!plan.lora_kinds[static_cast<int>(kind)]) return;
  const torch::Tensor a_rows = lora.a(kind, layer);
  const torch::Tensor bt_rows = lora.b_transposed(kind, layer);
  const int64_t in = x.size(1);
  for (const LoraGroup& g : plan.lora_groups) {
    if (!g.kinds[static_cast<int>(kind)]) continue;
    torch::Tensor a = a_rows.index_select(0, g.rows_index)
                          .view({g.rows, g.rank, in});  // [G, r, in]
    torch::Tensor bt = bt_rows.index_select(0, g.rows_index)
                           .view({g.rows, g.rank, -1});  // [G, r, out]
    torch::Tensor xg = x.index_select(0, g.token_index);
    if (g.width > 1) {
      xg = torch::zeros({g.rows * g.width, in}, x.options())
               .index_copy_(0, g.pad_index, xg);
    }
    torch::Tensor delta = torch::bmm(
        torch::bmm(xg.view({g.rows, g.width, in}), a.transpose(1, 2)), bt);
    delta = delta.view({g.rows * g.width, -1});
    if (g.width > 1) delta = delta.index_select(0, g.pad_index);
    if (g.weights.defined()) {  // Note [Adapter mixing].
      delta = (delta.to(torch::kFloat32) * g.weights).to(out.scalar_type());
    }
    out.index_add_(0, g.token_index, delta);
  }
}

torch::Tensor LlamaModel::Attention(const StepPlan& plan,
                                    const torch::Tensor& q,
                                    const torch::Tensor& keys,
                                    const torch::Tensor& values) const {
  const int64_t B = plan.num_rows;
  const int64_t Q = plan.q_width;
  const int64_t K = plan.k_width;
  const int64_t heads = config_.num_attention_heads;
  const int64_t kv_heads = config_.num_key_value_heads;
  const int64_t group = heads / kv_heads;
  const int64_t d = config_.head_dim;
  if (plan.paged) {
    return PagedAttention(q, keys, values, plan.host_token_rows,
                          plan.host_positions, plan.block_tables,
                          config_.sliding_window);
  }

  torch::Tensor qp = q;  // [T, heads, d]
  if (plan.padded) {
    qp = torch::zeros({B * Q, heads, d}, q.options())
             .index_copy_(0, plan.pad_index, q);
  }
  // [B, Q, kv_heads, group, d] -> [B, kv_heads, group * Q, d]: query head h
  // reads kv head h / group, as HF's repeat_kv arranges it.
  torch::Tensor qg = qp.view({B, Q, kv_heads, group, d})
                         .permute({0, 2, 3, 1, 4})
                         .reshape({B, kv_heads, group * Q, d});
  // Each row's blocks, [B, K, kv, d]: a fresh copy, so values past a row's
  // own length can be zeroed and cannot reach the row's output (Note [Row
  // isolation]).
  auto gather = [&](const torch::Tensor& pool) {
    return pool.index_select(0, plan.row_blocks)
        .view({B, -1, kv_heads, d})
        .narrow(1, 0, K);
  };
  torch::Tensor k = gather(keys).permute({0, 2, 3, 1});  // [B, kv, d, K]
  torch::Tensor v = gather(values);
  if (plan.foreign_kv.defined()) v.masked_fill_(plan.foreign_kv, 0);
  v = v.permute({0, 2, 1, 3});  // [B, kv, K, d]
  torch::Tensor scores = torch::matmul(qg, k).view({B, kv_heads, group, Q, K});
  scores =
      scores.to(torch::kFloat32) * (1.0 / std::sqrt(static_cast<double>(d)));
  scores.masked_fill_(plan.attn_mask, -std::numeric_limits<float>::infinity());
  torch::Tensor probs = torch::softmax(scores, -1).to(q.scalar_type());
  torch::Tensor out =
      torch::matmul(probs.view({B, kv_heads, group * Q, K}), v);  // [B,kv,gQ,d]
  out = out.view({B, kv_heads, group, Q, d})
            .permute({0, 3, 1, 2, 4})
            .reshape({B * Q, heads * d});
  if (plan.padded) out = out.index_select(0, plan.pad_index);
  return out;
}

torch::Tensor LlamaModel::Forward(absl::Span<const int32_t> tokens,
                                  absl::Span<const ForwardRow> rows,
                                  KvCache& kv_cache,
                                  const LoraBank* lora) const {
  const StepPlan plan = Plan(tokens, rows, kv_cache, lora);
  const bool use_lora = lora != nullptr && !plan.lora_groups.empty();
  const int64_t T = plan.num_tokens;
  const int64_t heads = config_.num_attention_heads;
  const int64_t kv_heads = config_.num_key_value_heads;
  const int64_t d = config_.head_dim;
  const int64_t q_cols = heads * d;
  const int64_t kv_cols = kv_heads * d;
  const int64_t inter = config_.intermediate_size;

  const RotaryEmbedding::Tables rope = rope_->Gather(plan.positions, dtype_);
  torch::Tensor x = torch::embedding(embed_tokens_, plan.token_ids);
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    const Layer& layer = layers_[l];
    torch::Tensor h = RmsNorm(x, layer.input_norm);
    torch::Tensor qkv = torch::linear(h, layer.qkv_weight, layer.qkv_bias);
    if (use_lora) {
      AddLora(plan, *lora, LinearKind::kQ, l, h, qkv.narrow(1, 0, q_cols));
      AddLora(plan, *lora, LinearKind::kK, l, h,
              qkv.narrow(1, q_cols, kv_cols));
      AddLora(plan, *lora, LinearKind::kV, l, h,
              qkv.narrow(1, q_cols + kv_cols, kv_cols));
    }
    torch::Tensor q = qkv.narrow(1, 0, q_cols).view({T, heads, d});
    torch::Tensor k = qkv.narrow(1, q_cols, kv_cols).view({T, kv_heads, d});
    torch::Tensor v =
        qkv.narrow(1, q_cols + kv_cols, kv_cols).view({T, kv_heads, d});
    q = RotaryEmbedding::Apply(q, rope);
    k = RotaryEmbedding::Apply(k, rope);
    kv_cache.keys(l).index_put_({plan.token_blocks, plan.token_offsets}, k);
    kv_cache.values(l).index_put_({plan.token_blocks, plan.token_offsets}, v);
    torch::Tensor attn =
        Attention(plan, q, kv_cache.keys(l), kv_cache.values(l));
    torch::Tensor o = torch::linear(attn, layer.o_weight, layer.o_bias);
    if (use_lora) AddLora(plan, *lora, LinearKind::kO, l, attn, o);
    x = x + o;

    h = RmsNorm(x, layer.post_norm);
    torch::Tensor gate_up =
        torch::linear(h, layer.gate_up_weight, layer.gate_up_bias);
    if (use_lora) {
      AddLora(plan, *lora, LinearKind::kGate, l, h,
              gate_up.narrow(1, 0, inter));
      AddLora(plan, *lora, LinearKind::kUp, l, h,
              gate_up.narrow(1, inter, inter));
    }
    torch::Tensor act = torch::silu(gate_up.narrow(1, 0, inter)) *
                        gate_up.narrow(1, inter, inter);
    torch::Tensor down = torch::linear(act, layer.down_weight, layer.down_bias);
    if (use_lora) AddLora(plan, *lora, LinearKind::kDown, l, act, down);
    x = x + down;
  }
  torch::Tensor last = x.index_select(0, plan.logits_index);
  last = RmsNorm(last, final_norm_);
  return torch::linear(last, lm_head_).to(torch::kFloat32);
}

}  // namespace loraplex::engine
