// Internal (includes LibTorch): the device side of the adapter cache.
//
// Note [Rank rows]
// Device memory for adapters is a pool of rank rows, one pair of stacks per
// linear kind:
//   A[kind]:  [layers, rows, in_features]   row i = one row of some LoRA A
//   Bt[kind]: [layers, rows, out_features]  row i = the matching column of
//                                           B (scale folded in), transposed
// An adapter of rank r owns r rows (any r of them: they need not be
// adjacent), the same rows in every kind and layer, so its device memory is
// proportional to its rank: a rank-4 adapter costs a sixteenth of a rank-64
// one, and the pool holds as many adapters as their ranks allow. This is
// S-LoRA's unified paging with a page of one rank row, which never
// fragments: a step gathers each lane's rows by index (Note [Ragged
// batches] in llama_model.cc), so a free row anywhere is as good as any.
// Row 0 is never owned and stays zero: it pads a lane whose adapter's rank
// is below the largest of its group, so adapters of different ranks share
// one batched matmul. A module whose rank is below the adapter's, or a kind
// the adapter does not target, has zero rows and contributes nothing.
//
// Adapters are addressed by slot (an entry naming the rows it owns); there
// are as many slots as rows, so slots never run out before rows do. Every
// stack is allocated (zeroed) by the constructor, so running out of device
// memory happens at start-up, never while serving.
#ifndef LORAPLEX_ENGINE_RUNTIME_LORA_BANK_H_
#define LORAPLEX_ENGINE_RUNTIME_LORA_BANK_H_

#include <torch/torch.h>

#include <array>
#include <memory>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/runtime/host_adapter.h"

namespace loraplex::engine {

// Owned by the engine loop thread; not thread-safe.
class LoraBank {
 public:
  // Allocates room for `max_rank_adapters` adapters of rank `max_rank`
  // (that many times max_rank rank rows; more adapters of lower rank).
  // Throws c10::Error when the device is out of memory.
  LoraBank(const ModelConfig& config, int64_t max_rank_adapters,
           int64_t max_rank, const torch::Device& device, torch::Dtype dtype)
      : LoraBank(config, max_rank_adapters * max_rank, max_rank, device, dtype,
                 RowsTag{}) {}
  // Exactly `rank_rows` rows (not a multiple of max_rank).
  static std::unique_ptr<LoraBank> WithRows(const ModelConfig& config,
                                            int64_t rank_rows, int64_t max_rank,
                                            const torch::Device& device,
                                            torch::Dtype dtype) {
    return std::unique_ptr<LoraBank>(
        new LoraBank(config, rank_rows, max_rank, device, dtype, RowsTag{}));
  }

  // Slot ids are [0, num_slots()).
  int64_t num_slots() const { return static_cast<int64_t>(slots_.size()); }
  int64_t max_rank() const { return max_rank_; }
  int64_t capacity_rows() const { return capacity_rows_; }
  int64_t free_rows() const { return static_cast<int64_t>(free_.size()); }

  // Rows an adapter takes (its largest module rank).
  static int64_t RowsFor(const HostAdapter& adapter) {
    return adapter.max_rank();
  }

  // Replaces whatever `slot` held with `adapter` (host -> device copy).
  // Throws std::invalid_argument when its rank exceeds max_rank() or fewer
  // rows are free (the slot's own rows included) than it needs, and
  // c10::Error on device errors; the slot is empty after a throw.
  void Load(int64_t slot, const HostAdapter& adapter);
  // Empties `slot`, returning its rows to the pool (not zeroed: Load zeroes
  // what it takes).
  void Clear(int64_t slot);

  // Rank of the adapter in `slot` (0 when empty).
  int64_t slot_rank(int64_t slot) const {
    return static_cast<int64_t>(slots_[slot].rows.size());
  }
  // The rows `slot` owns, the adapter's rank i at index i.
  const std::vector<int64_t>& slot_rows(int64_t slot) const {
    return slots_[slot].rows;
  }
  bool slot_targets(int64_t slot, LinearKind kind) const {
    return slots_[slot].kinds[static_cast<int>(kind)];
  }

  // [rows, in] and [rows, out] views for one layer; index them with the
  // rows of slot_rows() (or 0 for a zero row).
  torch::Tensor a(LinearKind kind, int64_t layer) const {
    return a_[static_cast<int>(kind)][layer];
  }
  torch::Tensor b_transposed(LinearKind kind, int64_t layer) const {
    return bt_[static_cast<int>(kind)][layer];
  }

  uint64_t bytes() const;
  // Device bytes of one rank row across every kind and layer.
  uint64_t bytes_per_row() const;

 private:
  struct RowsTag {};
  LoraBank(const ModelConfig& config, int64_t rank_rows, int64_t max_rank,
           const torch::Device& device, torch::Dtype dtype, RowsTag);

  struct Slot {
    std::vector<int64_t> rows;
    std::array<bool, kNumLinearKinds> kinds{};
  };

  ModelConfig config_;
  int64_t max_rank_;
  int64_t capacity_rows_;
  torch::TensorOptions options_;
  std::array<torch::Tensor, kNumLinearKinds> a_;
  std::array<torch::Tensor, kNumLinearKinds> bt_;
  std::vector<Slot> slots_;
  std::vector<int64_t> free_;  // Rows no slot owns (never row 0).
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_LORA_BANK_H_
