// Internal (includes LibTorch): the optimisation loop shared by base and
// LoRA training, and held-out evaluation of the training model.
#ifndef LORAPLEX_ENGINE_TRAIN_TRAINING_LOOP_H_
#define LORAPLEX_ENGINE_TRAIN_TRAINING_LOOP_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/train/token_corpus.h"
#include "engine/train/train_model.h"
#include "engine/train/trainer.h"
#include "engine/train/training_progress.h"

namespace loraplex::engine {

struct TrainingLoopSetup {
  // Parameters the optimizer updates; decayed ones get
  // options.weight_decay, the others none. Everything else in `model` must
  // already have requires_grad == false.
  std::vector<torch::Tensor> decayed;
  std::vector<torch::Tensor> not_decayed;
  TrainingOptions options;
  std::string checkpoint_path;  // Saved every checkpoint_every and at end.
  // Settings that must match for --resume to continue a checkpoint.
  std::string signature;
  std::string label;  // Progress-line prefix, e.g. "[base]".
  // When in (0, options.steps): stop once this many steps are done, with a
  // checkpoint written, as if the run had been interrupted there.
  int64_t stop_after_step = 0;
};

struct TrainingLoopResult {
  int64_t first_step = 0;  // > 0 when the run resumed.
  double first_loss = 0;
  double final_loss = 0;  // Mean of the last (up to) 10 losses.
  double tokens_per_second = 0;
  double seconds = 0;
  bool finished = false;  // False when stopped by stop_after_step.
};

// Runs AdamW (betas 0.9/0.95) with warm-up + cosine schedule and gradient
// clipping from step 0, or from the checkpoint when options.resume is set
// and one exists. Deterministic for a given seed, thread count and machine.
absl::StatusOr<TrainingLoopResult> RunTrainingLoop(
    LlamaTrainModel& model, const TokenCorpus& corpus,
    const TrainingLoopSetup& setup, const ProgressOptions& progress);

// exp(mean next-token NLL) over the corpus's held-out windows; 0 if there
// are none. Runs without gradients.
double HeldoutPerplexity(LlamaTrainModel& model, const TokenCorpus& corpus,
                         int64_t batch_size);

// "key=value ..." of everything that shapes a run's trajectory.
std::string TrainingSignature(const TrainingOptions& options,
                              const std::string& extra);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_TRAINING_LOOP_H_
