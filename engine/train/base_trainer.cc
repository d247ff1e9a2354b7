// TrainBaseModel: a Llama decoder from scratch on a tokenised corpus.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/runtime/torch_utils.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/train/file_util.h"
#include "engine/train/model_export.h"
#include "engine/train/model_spec.h"
#include "engine/train/trainer.h"
#include "engine/train/training_loop.h"
#include "engine/train/training_options.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

int64_t CountParameters(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const torch::Tensor& p : params) n += p.numel();
  return n;
}

absl::StatusOr<TrainReport> TrainBase(const BaseTrainOptions& options,
                                      const ProgressOptions& progress) {
  const TrainingOptions& o = options.training;
  RETURN_IF_ERROR(ValidateTrainingOptions(o));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::Load(options.tokenizer_dir));
  if (!tokenizer->bos_token_id() || !tokenizer->eos_token_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer in ", options.tokenizer_dir, " needs BOS and EOS tokens"));
  }
  ASSIGN_OR_RETURN(const std::string spec_text,
                   ReadFileToString(options.model_spec_path));
  ASSIGN_OR_RETURN(
      ModelSpec spec,
      ParseModelSpec(spec_text, tokenizer->vocab_size(),
                     *tokenizer->bos_token_id(), *tokenizer->eos_token_id()));
  if (o.seq_len > spec.config.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("--seq-len ", o.seq_len,
                     " exceeds the model's max_position_embeddings ",
                     spec.config.max_position_embeddings));
  }
  if (o.num_threads > 0) torch::set_num_threads(o.num_threads);
  ASSIGN_OR_RETURN(TokenCorpus corpus,
                   TokenCorpus::FromFiles(options.corpus_files, *tokenizer,
                                          {o.heldout_fraction, o.seq_len}));

  torch::manual_seed(o.seed);
  LlamaTrainModel model(spec.config, spec.initializer_range, o.seq_len);
  TrainingLoopSetup setup;
  for (torch::Tensor& p : model->parameters()) {
    (p.dim() >= 2 ? setup.decayed : setup.not_decayed).push_back(p);
  }
  setup.options = o;
  setup.checkpoint_path = options.out_dir + "/checkpoint/state.pt";
  setup.signature = TrainingSignature(
      o, absl::StrCat("base spec=", nlohmann::json::parse(spec_text).dump(),
                      " corpus=", absl::StrJoin(options.corpus_files, ","),
                      " tokens=", corpus.train_tokens()));
  setup.label = "[base]";
  TrainingProgress notes(progress, setup.label, 0, o.steps);
  notes.Note(absl::StrFormat("%d parameters; %d training tokens, %d held out",
                             CountParameters(model->parameters()),
                             corpus.train_tokens(), corpus.heldout_tokens()));
  ASSIGN_OR_RETURN(TrainingLoopResult loop,
                   RunTrainingLoop(model, corpus, setup, progress));

  TrainReport report;
  report.steps = o.steps;
  report.parameters = CountParameters(model->parameters());
  report.trainable_parameters = report.parameters;
  report.train_tokens = corpus.train_tokens();
  report.heldout_tokens = corpus.heldout_tokens();
  report.first_loss = loop.first_loss;
  report.final_loss = loop.final_loss;
  report.heldout_perplexity = HeldoutPerplexity(model, corpus, o.batch_size);
  report.seconds = loop.seconds;
  report.tokens_per_second = loop.tokens_per_second;
  notes.Note(absl::StrFormat("held-out perplexity %.3f over %d tokens",
                             report.heldout_perplexity, report.heldout_tokens));
  RETURN_IF_ERROR(WriteHfModelDir(model, spec.initializer_range,
                                  options.tokenizer_dir, options.out_dir));
  RETURN_IF_ERROR(WriteTrainReport(options.out_dir, "base", o, report));
  return report;
}

}  // namespace

absl::StatusOr<TrainReport> TrainBaseModel(const BaseTrainOptions& options,
                                           const ProgressOptions& progress) {
  try {
    return TrainBase(options, progress);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "base model training");
  }
}

}  // namespace loraplex::engine
