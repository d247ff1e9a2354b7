#include "engine/train/token_corpus.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/train/file_util.h"

namespace loraplex::engine {

absl::StatusOr<TokenCorpus> TokenCorpus::FromFiles(
    const std::vector<std::string>& files, const Tokenizer& tokenizer,
    const CorpusOptions& options) {
  if (files.empty()) {
    return absl::InvalidArgumentError("no corpus files given");
  }
  const std::optional<int32_t> bos = tokenizer.bos_token_id();
  if (!bos) {
    return absl::InvalidArgumentError(
        "the tokenizer has no BOS token; training windows start with one");
  }
  std::vector<std::vector<int32_t>> streams;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = ReadFileToString(file);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::vector<int32_t>> ids =
        tokenizer.Encode(*text, /*add_special_tokens=*/false);
    if (!ids.ok()) {
      return absl::Status(
          ids.status().code(),
          absl::StrCat("tokenizing ", file, ": ", ids.status().message()));
    }
    streams.push_back(*std::move(ids));
  }
  return FromStreams(std::move(streams), *bos, options);
}

absl::StatusOr<TokenCorpus> TokenCorpus::FromStreams(
    std::vector<std::vector<int32_t>> streams, int32_t bos_id,
    const CorpusOptions& options) {
  if (options.seq_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence length must be at least 2, got ", options.seq_len));
  }
  if (!(options.heldout_fraction >= 0 && options.heldout_fraction <= 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("held-out fraction must be in [0, 0.5], got ",
                     options.heldout_fraction));
  }
  TokenCorpus corpus;
  corpus.options_ = options;
  corpus.bos_id_ = bos_id;
  const int64_t span = options.seq_len - 1;  // Text tokens per window.
  uint64_t starts = 0;
  for (std::vector<int32_t>& stream : streams) {
    const auto size = static_cast<int64_t>(stream.size());
    const auto held = static_cast<int64_t>(static_cast<double>(size) *
                                           options.heldout_fraction);
    corpus.heldout_.emplace_back(stream.end() - held, stream.end());
    stream.resize(size - held);
    corpus.heldout_tokens_ += held;
    corpus.train_tokens_ += size - held;
    if (size - held >= span) starts += size - held - span + 1;
    corpus.cumulative_starts_.push_back(starts);
    corpus.train_.push_back(std::move(stream));
  }
  if (starts == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "corpus too small: no file has the ", span,
        " training tokens one window of --seq-len ", options.seq_len,
        " needs (", corpus.train_tokens_, " training tokens in all)"));
  }
  return corpus;
}

std::vector<int64_t> TokenCorpus::SampleBatch(int64_t batch,
                                              std::mt19937_64& rng) const {
  const int64_t span = options_.seq_len - 1;
  std::vector<int64_t> ids;
  ids.reserve(batch * options_.seq_len);
  for (int64_t row = 0; row < batch; ++row) {
    // Modulo keeps the draw identical across standard libraries; its bias
    // (total / 2^64) is negligible.
    const uint64_t draw = rng() % cumulative_starts_.back();
    const size_t stream = std::upper_bound(cumulative_starts_.begin(),
                                           cumulative_starts_.end(), draw) -
                          cumulative_starts_.begin();
    const uint64_t before = stream == 0 ? 0 : cumulative_starts_[stream - 1];
    const auto begin =
        train_[stream].begin() + static_cast<int64_t>(draw - before);
    ids.push_back(bos_id_);
    ids.insert(ids.end(), begin, begin + span);
  }
  return ids;
}

std::vector<std::vector<int64_t>> CutIntoWindows(
    const std::vector<int32_t>& tokens, int32_t bos_id, int64_t seq_len) {
  const auto span = static_cast<size_t>(seq_len - 1);
  std::vector<std::vector<int64_t>> windows;
  for (size_t pos = 0; pos < tokens.size(); pos += span) {
    const size_t end = std::min(tokens.size(), pos + span);
    std::vector<int64_t> window = {bos_id};
    window.insert(window.end(), tokens.begin() + pos, tokens.begin() + end);
    windows.push_back(std::move(window));
  }
  return windows;
}

std::vector<std::vector<int64_t>> TokenCorpus::HeldoutWindows() const {
  std::vector<std::vector<int64_t>> windows;
  for (const std::vector<int32_t>& stream : heldout_) {
    for (auto& w : CutIntoWindows(stream, bos_id_, options_.seq_len)) {
      windows.push_back(std::move(w));
    }
  }
  return windows;
}

}  // namespace loraplex::engine
