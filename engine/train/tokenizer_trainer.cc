// TrainTokenizer: byte-level BPE over corpus files.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/common/status_macros.h"
#include "engine/train/bpe_trainer.h"
#include "engine/train/file_util.h"
#include "engine/train/trainer.h"

namespace loraplex::engine {

absl::StatusOr<TokenizerTrainReport> TrainTokenizer(
    const TokenizerTrainOptions& options, const ProgressOptions& progress) {
  if (options.corpus_files.empty()) {
    return absl::InvalidArgumentError("no corpus files given");
  }
  const absl::Time start = absl::Now();
  TrainingProgress notes(progress, "[tokenizer]", 0, 1);
  BpeTrainerOptions bpe;
  bpe.vocab_size = options.vocab_size;
  bpe.min_frequency = options.min_frequency;
  ASSIGN_OR_RETURN(std::unique_ptr<BpeTrainer> trainer,
                   BpeTrainer::Create(bpe));
  TokenizerTrainReport report;
  for (const std::string& file : options.corpus_files) {
    ASSIGN_OR_RETURN(const std::string text, ReadFileToString(file));
    if (absl::Status added = trainer->AddText(text); !added.ok()) {
      return absl::Status(added.code(),
                          absl::StrCat(file, ": ", added.message()));
    }
    report.corpus_bytes += static_cast<int64_t>(text.size());
  }
  report.distinct_words = trainer->distinct_words();
  notes.Note(absl::StrFormat("%d bytes, %d distinct words; learning merges",
                             report.corpus_bytes, report.distinct_words));
  ASSIGN_OR_RETURN(BpeVocabulary vocabulary, trainer->Train());
  RETURN_IF_ERROR(WriteHfTokenizerFiles(vocabulary, options.out_dir));
  report.vocab_size = static_cast<int32_t>(vocabulary.tokens.size());
  report.merges = static_cast<int64_t>(vocabulary.merges.size());
  report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  notes.Note(absl::StrFormat("%d tokens (%d merges) in %.1f s -> %s",
                             report.vocab_size, report.merges, report.seconds,
                             options.out_dir));
  return report;
}

}  // namespace loraplex::engine
