// TrainLoraAdapter: LoRA factors on a frozen base model.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/runtime/torch_utils.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/train/model_export.h"
#include "engine/train/pissa.h"
#include "engine/train/trainer.h"
#include "engine/train/training_loop.h"
#include "engine/train/training_options.h"

namespace loraplex::engine {
namespace {

absl::StatusOr<TrainReport> TrainLora(const LoraTrainOptions& options,
                                      const ProgressOptions& progress) {
  const TrainingOptions& o = options.training;
  RETURN_IF_ERROR(ValidateTrainingOptions(o));
  if (options.rank < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rank must be at least 1 (got ", options.rank, ")"));
  }
  if (!(options.alpha > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--alpha must be positive (got ", options.alpha, ")"));
  }
  ASSIGN_OR_RETURN(std::vector<LinearKind> kinds,
                   ParseLoraTargets(options.targets));
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(options.base_dir));
  RETURN_IF_ERROR(CheckTrainableArchitecture(config));
  if (o.seq_len > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--seq-len ", o.seq_len, " exceeds the base model's ",
        "max_position_embeddings ", config.max_position_embeddings));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::Load(options.base_dir));
  if (o.num_threads > 0) torch::set_num_threads(o.num_threads);
  ASSIGN_OR_RETURN(TokenCorpus corpus,
                   TokenCorpus::FromFiles(options.corpus_files, *tokenizer,
                                          {o.heldout_fraction, o.seq_len}));

  torch::manual_seed(o.seed);
  LlamaTrainModel model(config, /*initializer_range=*/0.02, o.seq_len);
  ASSIGN_OR_RETURN(auto base_tensors, ReadModelTensors(options.base_dir));
  RETURN_IF_ERROR(model->LoadHfTensors(base_tensors));
  base_tensors.clear();
  for (torch::Tensor& p : model->parameters()) p.requires_grad_(false);
  const double scale = options.alpha / static_cast<double>(options.rank);
  model->AttachLora(kinds, options.rank, scale);
  const bool pissa = options.init == LoraInit::kPissa;
  PissaStart pissa_start;
  if (pissa) {
    ASSIGN_OR_RETURN(pissa_start, InitializePissa(model, kinds, o.seed));
  }

  TrainingLoopSetup setup;
  for (auto& [name, p] : model->LoraParameters()) setup.decayed.push_back(p);
  setup.options = o;
  setup.checkpoint_path = options.out_dir + "/checkpoint/state.pt";
  std::vector<std::string> target_names;
  for (LinearKind kind : kinds) target_names.emplace_back(LinearKindName(kind));
  setup.signature = TrainingSignature(
      o, absl::StrCat("lora base=", options.base_dir, " r=", options.rank,
                      " alpha=", options.alpha,
                      " targets=", absl::StrJoin(target_names, ","),
                      pissa ? " init=pissa" : "",
                      " corpus=", absl::StrJoin(options.corpus_files, ","),
                      " tokens=", corpus.train_tokens()));
  setup.label = "[lora]";

  TrainReport report;
  for (const torch::Tensor& p : model->parameters()) {
    report.parameters += p.numel();
    if (p.requires_grad()) report.trainable_parameters += p.numel();
  }
  TrainingProgress notes(progress, setup.label, 0, o.steps);
  if (pissa) {
    notes.Note(absl::StrFormat(
        "PiSSA: factors start at the top %d singular directions of %d "
        "weights (%d by randomized SVD); the adapter is written at rank %d",
        options.rank, pissa_start.factors.size(),
        pissa_start.randomized_modules, 2 * options.rank));
  }
  report.initial_heldout_perplexity =
      HeldoutPerplexity(model, corpus, o.batch_size);
  notes.Note(absl::StrFormat(
      "%d trainable of %d parameters; %d training tokens, %d held out; base "
      "held-out perplexity %.3f",
      report.trainable_parameters, report.parameters, corpus.train_tokens(),
      corpus.heldout_tokens(), report.initial_heldout_perplexity));
  ASSIGN_OR_RETURN(TrainingLoopResult loop,
                   RunTrainingLoop(model, corpus, setup, progress));

  report.steps = o.steps;
  report.train_tokens = corpus.train_tokens();
  report.heldout_tokens = corpus.heldout_tokens();
  report.first_loss = loop.first_loss;
  report.final_loss = loop.final_loss;
  report.heldout_perplexity = HeldoutPerplexity(model, corpus, o.batch_size);
  report.seconds = loop.seconds;
  report.tokens_per_second = loop.tokens_per_second;
  notes.Note(absl::StrFormat(
      "held-out perplexity %.3f (base %.3f) over %d tokens",
      report.heldout_perplexity, report.initial_heldout_perplexity,
      report.heldout_tokens));
  PeftAdapterInfo info;
  info.rank = options.rank;
  info.alpha = options.alpha;
  info.targets = kinds;
  info.base_model_name_or_path = options.base_model_name.empty()
                                     ? options.base_dir
                                     : options.base_model_name;
  if (pissa) {
    RETURN_IF_ERROR(
        WritePissaAdapterDir(model, pissa_start, info, options.out_dir));
  } else {
    RETURN_IF_ERROR(WritePeftAdapterDir(model, info, options.out_dir));
  }
  report.adapter_rank = pissa ? 2 * options.rank : options.rank;
  report.lora_init = pissa ? "pissa" : "default";
  RETURN_IF_ERROR(WriteTrainReport(options.out_dir, "lora", o, report));
  return report;
}

}  // namespace

absl::StatusOr<TrainReport> TrainLoraAdapter(const LoraTrainOptions& options,
                                             const ProgressOptions& progress) {
  try {
    return TrainLora(options, progress);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "LoRA training");
  }
}

}  // namespace loraplex::engine
