#include "engine/runtime/lora_bank.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace loraplex::engine {

LoraBank::LoraBank(const ModelConfig& config, int64_t rank_rows,
                   int64_t max_rank, const torch::Device& device,
                   torch::Dtype dtype, RowsTag)
    : config_(config),
      max_rank_(max_rank),
      capacity_rows_(rank_rows),
      options_(torch::TensorOptions().device(device).dtype(dtype)) {
  const int64_t layers = config_.num_hidden_layers;
  // Row 0 is the zero row (Note [Rank rows]).
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearShape shape =
        LinearShapeOf(config_, static_cast<LinearKind>(k));
    a_[k] =
        torch::zeros({layers, capacity_rows_ + 1, shape.in_features}, options_);
    bt_[k] = torch::zeros({layers, capacity_rows_ + 1, shape.out_features},
                          options_);
  }
  slots_.resize(capacity_rows_);
  free_.reserve(capacity_rows_);
  // Handed out from the back: low rows first.
  for (int64_t row = capacity_rows_; row >= 1; --row) free_.push_back(row);
}

void LoraBank::Clear(int64_t slot) {
  Slot& entry = slots_[slot];
  free_.insert(free_.end(), entry.rows.rbegin(), entry.rows.rend());
  entry = Slot{};
}

void LoraBank::Load(int64_t slot, const HostAdapter& adapter) {
  Clear(slot);
  const int64_t rank = RowsFor(adapter);
  if (rank > max_rank_ || rank > free_rows()) {
    throw std::invalid_argument(
        "an adapter of rank " + std::to_string(rank) +
        " does not fit: " + std::to_string(free_rows()) +
        " free rank rows, rank limit " + std::to_string(max_rank_));
  }
  Slot& entry = slots_[slot];
  entry.rows.assign(free_.end() - rank, free_.end());
  std::reverse(entry.rows.begin(), entry.rows.end());
  free_.resize(free_.size() - rank);
  try {
    const torch::Tensor rows =
        torch::tensor(entry.rows, torch::kInt64).to(options_.device());
    // Zero the rows for every kind: modules the adapter does not adapt, and
    // the rows past a module's own rank, must contribute nothing.
    for (int k = 0; k < kNumLinearKinds; ++k) {
      a_[k].index_fill_(1, rows, 0);
      bt_[k].index_fill_(1, rows, 0);
    }
    for (const HostLoraModule& module : adapter.modules()) {
      const int k = static_cast<int>(module.kind);
      const torch::Tensor own = rows.narrow(0, 0, module.rank);
      a_[k][module.layer].index_copy_(0, own, module.a.to(options_));
      bt_[k][module.layer].index_copy_(0, own,
                                       module.b_scaled.t().to(options_));
    }
  } catch (...) {
    Clear(slot);
    throw;
  }
  for (int k = 0; k < kNumLinearKinds; ++k) {
    entry.kinds[k] = adapter.targets(static_cast<LinearKind>(k));
  }
}

uint64_t LoraBank::bytes() const {
  uint64_t total = 0;
  for (int k = 0; k < kNumLinearKinds; ++k) {
    total += (a_[k].numel() + bt_[k].numel()) * a_[k].element_size();
  }
  return total;
}

uint64_t LoraBank::bytes_per_row() const {
  uint64_t total = 0;
  for (int k = 0; k < kNumLinearKinds; ++k) {
    total += (a_[k].size(0) * (a_[k].size(2) + bt_[k].size(2))) *
             a_[k].element_size();
  }
  return total;
}

}  // namespace loraplex::engine
