#include "engine/runtime/torch_utils.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace loraplex::engine {

absl::StatusOr<torch::Device> ParseDevice(const std::string& spec) {
  if (spec == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0)
                                       : torch::Device(torch::kCPU);
  }
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "cuda" || absl::StartsWith(spec, "cuda:")) {
    if (!torch::cuda::is_available()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device '", spec,
          "' requested but this LibTorch build sees no CUDA device; use "
          "--device cpu or auto"));
    }
    int index = 0;
    if (spec.size() > 5 && !absl::SimpleAtoi(spec.substr(5), &index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad device '", spec, "': expected cuda:N"));
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count())) {
      return absl::InvalidArgumentError(
          absl::StrCat("device '", spec, "' does not exist (",
                       torch::cuda::device_count(), " CUDA devices)"));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown device '", spec, "': expected cpu, cuda, cuda:N or auto"));
}

absl::StatusOr<torch::Dtype> ParseDtype(const std::string& spec,
                                        const torch::Device& device) {
  if (spec == "auto") {
    return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  }
  if (spec == "float32" || spec == "fp32") return torch::kFloat32;
  if (spec == "bfloat16" || spec == "bf16") return torch::kBFloat16;
  if (spec == "float16" || spec == "fp16") {
    if (!device.is_cuda()) {
      return absl::InvalidArgumentError(
          "dtype float16 is not supported on CPU (LibTorch has no CPU "
          "float16 matmul); use float32 or bfloat16");
    }
    return torch::kFloat16;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", spec,
                   "': expected float32, float16, bfloat16 or auto"));
}

std::string DtypeName(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    default:
      return std::string(c10::toString(dtype));
  }
}

torch::Dtype TorchDtypeOf(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF16:
      return torch::kFloat16;
    case TensorDType::kBF16:
      return torch::kBFloat16;
    case TensorDType::kF32:
      break;
  }
  return torch::kFloat32;
}

torch::Tensor TensorFromBytes(const TensorInfo& info,
                              absl::Span<const uint8_t> data,
                              torch::Dtype dtype, const torch::Device& device) {
  // memcpy into an owned, aligned host tensor first: the mapping may be
  // unaligned and must never be written through.
  torch::Tensor host = torch::empty(
      info.shape, torch::TensorOptions().dtype(TorchDtypeOf(info.dtype)));
  if (!data.empty()) std::memcpy(host.data_ptr(), data.data(), data.size());
  return host.to(device, dtype);
}

absl::Status TorchErrorToStatus(const std::exception& e,
                                const std::string& context) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return absl::InternalError(
        absl::StrCat(context, ": ", c10_error->what_without_backtrace()));
  }
  return absl::InternalError(absl::StrCat(context, ": ", e.what()));
}

}  // namespace loraplex::engine
