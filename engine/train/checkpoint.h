// Internal (includes LibTorch): training checkpoints. One file holds the
// model's parameters, the optimizer's state (AdamW moments and step counts),
// the next step to run, the data sampler's RNG state and a signature of the
// run's settings, so that a resumed run continues exactly where the
// interrupted one stopped.
#ifndef LORAPLEX_ENGINE_TRAIN_CHECKPOINT_H_
#define LORAPLEX_ENGINE_TRAIN_CHECKPOINT_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loraplex::engine {

struct CheckpointState {
  int64_t next_step = 0;
  std::string rng_state;  // std::mt19937_64 as its stream text.
  std::string signature;  // The settings the run was started with.
};

// Writes `path` + ".tmp" and renames it over `path`. Errors (I/O, torch)
// come back as a Status.
absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer,
                            const CheckpointState& state);

// Restores model and optimizer from `path` and returns the saved state.
// FAILED_PRECONDITION if the checkpoint was written by a run with another
// signature (different data, model or hyperparameters); INVALID_ARGUMENT
// if the file is not a readable checkpoint for this model.
absl::StatusOr<CheckpointState> LoadCheckpoint(
    const std::string& path, const std::string& expected_signature,
    torch::nn::Module& model, torch::optim::Optimizer& optimizer);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_CHECKPOINT_H_
