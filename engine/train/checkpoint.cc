#include "engine/train/checkpoint.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engine/runtime/torch_utils.h"
#include "engine/train/file_util.h"

namespace loraplex::engine {
namespace {

torch::Tensor StringToTensor(const std::string& text) {
  torch::Tensor bytes =
      torch::empty({static_cast<int64_t>(text.size())}, torch::kUInt8);
  std::memcpy(bytes.data_ptr(), text.data(), text.size());
  return bytes;
}

std::string TensorToString(const torch::Tensor& bytes) {
  torch::Tensor contiguous = bytes.to(torch::kUInt8).contiguous();
  return std::string(static_cast<const char*>(contiguous.data_ptr()),
                     static_cast<size_t>(contiguous.numel()));
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer,
                            const CheckpointState& state) {
  const std::string tmp = path + ".tmp";
  try {
    const std::filesystem::path parent =
        std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      if (absl::Status made = EnsureDirectory(parent.string()); !made.ok())
        return made;
    }
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive model_archive;
    model.save(model_archive);
    archive.write("model", model_archive);
    torch::serialize::OutputArchive optimizer_archive;
    optimizer.save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("next_step", torch::tensor(state.next_step, torch::kInt64));
    archive.write("rng_state", StringToTensor(state.rng_state));
    archive.write("signature", StringToTensor(state.signature));
    archive.save_to(tmp);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("writing checkpoint ", tmp));
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot rename ", tmp, " to ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointState> LoadCheckpoint(
    const std::string& path, const std::string& expected_signature,
    torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  CheckpointState state;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::Tensor signature;
    archive.read("signature", signature);
    state.signature = TensorToString(signature);
    if (state.signature != expected_signature) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, " belongs to a run with other settings:\n  ",
          state.signature, "\nthis run:\n  ", expected_signature,
          "\n(use the same flags and data, or start without --resume in a ",
          "fresh output directory)"));
    }
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    torch::Tensor next_step, rng_state;
    archive.read("next_step", next_step);
    archive.read("rng_state", rng_state);
    state.next_step = next_step.item<int64_t>();
    state.rng_state = TensorToString(rng_state);
  } catch (const std::exception& e) {
    const absl::Status inner = TorchErrorToStatus(e, "");
    return absl::InvalidArgumentError(
        absl::StrCat("cannot restore checkpoint ", path, inner.message()));
  }
  return state;
}

}  // namespace loraplex::engine
