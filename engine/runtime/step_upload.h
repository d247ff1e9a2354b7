// Internal (includes LibTorch): a step's host-built index vectors, sent to
// the device in one copy.
#ifndef LORAPLEX_ENGINE_RUNTIME_STEP_UPLOAD_H_
#define LORAPLEX_ENGINE_RUNTIME_STEP_UPLOAD_H_

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace loraplex::engine {

// Note [One upload per step]
// A step's plan is a dozen small int64 vectors built on the host (token
// ids, positions, KV blocks, LoRA rows, ...). Copying each to the device
// on its own costs a dozen synchronising host->device copies per step on a
// GPU, each a round trip that stalls the launch queue. StepUpload packs
// them into one host buffer — pinned, on CUDA, so the copy is asynchronous
// on the current stream and kernels queued after it see the data — makes
// one copy, and hands out 1-D views of the device buffer. On the CPU the
// "copy" is the buffer itself: no device work at all.
class StepUpload {
 public:
  using Handle = size_t;

  // Stages `values`; valid until Upload.
  Handle Add(const std::vector<int64_t>& values);
  // Packs and copies everything staged so far to `device`.
  void Upload(const torch::Device& device);
  // The device view of a staged vector: [values.size()] int64.
  torch::Tensor Get(Handle handle) const;

 private:
  std::vector<int64_t> host_;
  std::vector<std::pair<int64_t, int64_t>> spans_;  // Offset, length.
  torch::Tensor device_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_STEP_UPLOAD_H_
