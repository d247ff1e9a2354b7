#include "engine/train/training_loop.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "absl/strings/str_format.h"
#include "engine/common/status_macros.h"
#include "engine/train/checkpoint.h"
#include "engine/train/lr_schedule.h"

namespace loraplex::engine {
namespace {

torch::optim::AdamW MakeOptimizer(const TrainingLoopSetup& setup) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto options = [&](double decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(setup.options.lr)
            .betas({0.9, 0.95})
            .eps(1e-8)
            .weight_decay(decay));
  };
  if (!setup.decayed.empty()) {
    groups.emplace_back(setup.decayed, options(setup.options.weight_decay));
  }
  if (!setup.not_decayed.empty()) {
    groups.emplace_back(setup.not_decayed, options(0.0));
  }
  return torch::optim::AdamW(std::move(groups),
                             torch::optim::AdamWOptions(setup.options.lr));
}

void SetLearningRate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

std::string RngState(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

}  // namespace

std::string TrainingSignature(const TrainingOptions& o,
                              const std::string& extra) {
  return absl::StrFormat(
      "steps=%d seq_len=%d batch=%d lr=%g warmup=%d wd=%g clip=%g seed=%d "
      "heldout=%g %s",
      o.steps, o.seq_len, o.batch_size, o.lr, o.warmup_steps, o.weight_decay,
      o.clip_norm, o.seed, o.heldout_fraction, extra);
}

absl::StatusOr<TrainingLoopResult> RunTrainingLoop(
    LlamaTrainModel& model, const TokenCorpus& corpus,
    const TrainingLoopSetup& setup, const ProgressOptions& progress_options) {
  const TrainingOptions& o = setup.options;
  torch::optim::AdamW optimizer = MakeOptimizer(setup);
  std::vector<torch::Tensor> trainable = setup.decayed;
  trainable.insert(trainable.end(), setup.not_decayed.begin(),
                   setup.not_decayed.end());
  std::mt19937_64 rng(o.seed);
  int64_t step = 0;
  if (o.resume && std::filesystem::exists(setup.checkpoint_path)) {
    ASSIGN_OR_RETURN(CheckpointState state,
                     LoadCheckpoint(setup.checkpoint_path, setup.signature,
                                    *model, optimizer));
    step = state.next_step;
    std::istringstream(state.rng_state) >> rng;
  }
  TrainingLoopResult result;
  result.first_step = step;
  TrainingProgress progress(progress_options, setup.label, step, o.steps);
  if (step > 0) progress.Note(absl::StrFormat("resumed at step %d", step));
  const LrSchedule schedule{o.lr, o.warmup_steps, o.steps, 0.1};
  std::deque<double> recent;
  const int64_t end_step = setup.stop_after_step > 0
                               ? std::min(setup.stop_after_step, o.steps)
                               : o.steps;
  model->train();
  for (; step < end_step; ++step) {
    const double lr = LearningRateAt(schedule, step);
    SetLearningRate(optimizer, lr);
    std::vector<int64_t> ids = corpus.SampleBatch(o.batch_size, rng);
    torch::Tensor batch =
        torch::from_blob(ids.data(), {o.batch_size, o.seq_len}, torch::kInt64);
    optimizer.zero_grad();
    torch::Tensor loss = model->NextTokenLoss(batch);
    loss.backward();
    if (o.clip_norm > 0)
      torch::nn::utils::clip_grad_norm_(trainable, o.clip_norm);
    optimizer.step();
    const double value = loss.item<double>();
    if (!std::isfinite(value)) {
      return absl::InternalError(absl::StrFormat(
          "loss became %f at step %d; lower --lr or raise --warmup", value,
          step));
    }
    if (step == result.first_step) result.first_loss = value;
    recent.push_back(value);
    if (recent.size() > 10) recent.pop_front();
    progress.OnStep(step, value, lr, o.batch_size * o.seq_len);
    const bool last = step + 1 == end_step;
    if (last ||
        (o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0)) {
      CheckpointState state{step + 1, RngState(rng), setup.signature};
      RETURN_IF_ERROR(
          SaveCheckpoint(setup.checkpoint_path, *model, optimizer, state));
      if (!last)
        progress.Note(absl::StrFormat("checkpoint at step %d", step + 1));
    }
  }
  model->eval();
  result.finished = step == o.steps;
  if (!recent.empty()) {
    result.final_loss =
        std::accumulate(recent.begin(), recent.end(), 0.0) / recent.size();
  }
  result.tokens_per_second = progress.tokens_per_second();
  result.seconds = absl::ToDoubleSeconds(progress.elapsed());
  return result;
}

double HeldoutPerplexity(LlamaTrainModel& model, const TokenCorpus& corpus,
                         int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> windows = corpus.HeldoutWindows();
  double nll = 0;
  int64_t predicted = 0;
  // Windows of equal length go together; in practice all but each file's
  // last window are full.
  std::map<size_t, std::vector<const std::vector<int64_t>*>> by_length;
  for (const auto& w : windows) {
    if (w.size() >= 2) by_length[w.size()].push_back(&w);
  }
  for (const auto& [length, group] : by_length) {
    for (size_t begin = 0; begin < group.size(); begin += batch_size) {
      const size_t end = std::min(group.size(), begin + batch_size);
      std::vector<int64_t> ids;
      for (size_t i = begin; i < end; ++i) {
        ids.insert(ids.end(), group[i]->begin(), group[i]->end());
      }
      const auto rows = static_cast<int64_t>(end - begin);
      torch::Tensor batch = torch::from_blob(
          ids.data(), {rows, static_cast<int64_t>(length)}, torch::kInt64);
      nll += model->NextTokenNllSum(batch).item<double>();
      predicted += rows * static_cast<int64_t>(length - 1);
    }
  }
  return predicted == 0 ? 0.0 : std::exp(nll / static_cast<double>(predicted));
}

}  // namespace loraplex::engine
