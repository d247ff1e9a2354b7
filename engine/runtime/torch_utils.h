// Internal (includes LibTorch): device/dtype selection and tensor loading.
#ifndef LORAPLEX_ENGINE_RUNTIME_TORCH_UTILS_H_
#define LORAPLEX_ENGINE_RUNTIME_TORCH_UTILS_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available).
absl::StatusOr<torch::Device> ParseDevice(const std::string& spec);

// "float32", "float16", "bfloat16" or "auto" (float32 on CPU, bfloat16 on
// CUDA). float16 on CPU is refused: LibTorch's CPU matmul lacks it.
absl::StatusOr<torch::Dtype> ParseDtype(const std::string& spec,
                                        const torch::Device& device);

std::string DtypeName(torch::Dtype dtype);

// The LibTorch dtype that holds a safetensors dtype's values exactly.
torch::Dtype TorchDtypeOf(TensorDType dtype);

// Copies a safetensors tensor into a new tensor of `dtype` on `device`.
// The source bytes may be unaligned (mmap'ed file).
torch::Tensor TensorFromBytes(const TensorInfo& info,
                              absl::Span<const uint8_t> data,
                              torch::Dtype dtype, const torch::Device& device);

// Converts a LibTorch exception into a Status with `context` prefixed.
absl::Status TorchErrorToStatus(const std::exception& e,
                                const std::string& context);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_TORCH_UTILS_H_
