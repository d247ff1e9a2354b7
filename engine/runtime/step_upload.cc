#include "engine/runtime/step_upload.h"

#include <cstring>

namespace loraplex::engine {

StepUpload::Handle StepUpload::Add(const std::vector<int64_t>& values) {
  spans_.emplace_back(static_cast<int64_t>(host_.size()),
                      static_cast<int64_t>(values.size()));
  host_.insert(host_.end(), values.begin(), values.end());
  return spans_.size() - 1;
}

void StepUpload::Upload(const torch::Device& device) {
  const bool pinned = device.is_cuda();
  torch::Tensor host = torch::empty(
      {static_cast<int64_t>(host_.size())},
      torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pinned));
  if (!host_.empty()) {
    std::memcpy(host.data_ptr<int64_t>(), host_.data(),
                host_.size() * sizeof(int64_t));
  }
  device_ = device.is_cpu() ? host : host.to(device, /*non_blocking=*/true);
}

torch::Tensor StepUpload::Get(Handle handle) const {
  const auto [offset, length] = spans_[handle];
  return device_.narrow(0, offset, length);
}

}  // namespace loraplex::engine
