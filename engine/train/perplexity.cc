// EvaluatePerplexity: held-out NLL through the inference engine's model.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "engine/runtime/torch_utils.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/train/file_util.h"
#include "engine/train/token_corpus.h"
#include "engine/train/trainer.h"

namespace loraplex::engine {
namespace {

struct NllSum {
  double nll = 0;
  int64_t tokens = 0;
};

// Feeds the windows one position per step, as decoding does, and scores
// the logits of every position against the next token of its window.
NllSum ScoreWindows(const LlamaModel& model, const LoraBank* bank,
                    const std::vector<std::vector<int64_t>>& windows) {
  NllSum sum;
  const auto rows = static_cast<int64_t>(windows.size());
  size_t longest = 0;
  for (const auto& w : windows) longest = std::max(longest, w.size());
  KvCache kv(model.config(), rows, static_cast<int64_t>(longest),
             model.device(), model.dtype());
  for (size_t pos = 0; pos + 1 < longest; ++pos) {
    std::vector<int32_t> tokens;
    std::vector<ForwardRow> step_rows;
    std::vector<int64_t> targets;
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<int64_t>& w = windows[r];
      if (pos + 1 >= w.size()) continue;
      tokens.push_back(static_cast<int32_t>(w[pos]));
      step_rows.push_back(ForwardRow{r, static_cast<int64_t>(pos), 1,
                                     bank != nullptr ? 0 : -1, true});
      targets.push_back(w[pos + 1]);
    }
    torch::Tensor logits = model.Forward(tokens, step_rows, kv, bank);
    torch::Tensor log_probs = torch::log_softmax(logits, -1);
    torch::Tensor picked = log_probs.gather(
        1, torch::tensor(targets, torch::kInt64).view({-1, 1}));
    sum.nll -= picked.sum().item<double>();
    sum.tokens += static_cast<int64_t>(targets.size());
  }
  return sum;
}

absl::StatusOr<PerplexityReport> Evaluate(const PerplexityOptions& options) {
  if (options.batch_size < 1 || options.seq_len < 2) {
    return absl::InvalidArgumentError(
        "--batch-size must be >= 1 and --seq-len >= 2");
  }
  if (options.num_threads > 0) torch::set_num_threads(options.num_threads);
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(options.model_dir));
  ASSIGN_OR_RETURN(auto checkpoint,
                   SafetensorsCheckpoint::Open(options.model_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                   LlamaModel::Load(config, *checkpoint, torch::kCPU,
                                    torch::kFloat32, options.seq_len));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::Load(options.model_dir));
  std::unique_ptr<LoraBank> bank;
  if (!options.adapter_dir.empty()) {
    ASSIGN_OR_RETURN(auto files,
                     LoraAdapterFiles::Open(options.adapter_dir, config));
    ASSIGN_OR_RETURN(auto host,
                     HostAdapter::FromFiles(*files, torch::kFloat32));
    bank = std::make_unique<LoraBank>(config, /*num_slots=*/1, host->max_rank(),
                                      torch::kCPU, torch::kFloat32);
    bank->Load(0, *host);
  }
  const std::optional<int32_t> bos = tokenizer->bos_token_id();
  if (!bos) return absl::InvalidArgumentError("the tokenizer has no BOS token");
  std::vector<std::vector<int64_t>> windows;
  for (const std::string& file : options.text_files) {
    ASSIGN_OR_RETURN(const std::string text, ReadFileToString(file));
    ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                     tokenizer->Encode(text, /*add_special_tokens=*/false));
    for (auto& w : CutIntoWindows(ids, *bos, options.seq_len)) {
      if (w.size() >= 2) windows.push_back(std::move(w));
    }
  }
  if (windows.empty()) {
    return absl::InvalidArgumentError("the text files hold no tokens to score");
  }
  c10::InferenceMode inference;
  NllSum total;
  for (size_t begin = 0; begin < windows.size(); begin += options.batch_size) {
    const size_t end = std::min(windows.size(), begin + options.batch_size);
    const NllSum part = ScoreWindows(
        *model, bank.get(), {windows.begin() + begin, windows.begin() + end});
    total.nll += part.nll;
    total.tokens += part.tokens;
  }
  PerplexityReport report;
  report.tokens = total.tokens;
  report.mean_nll = total.nll / static_cast<double>(total.tokens);
  report.perplexity = std::exp(report.mean_nll);
  return report;
}

}  // namespace

absl::StatusOr<PerplexityReport> EvaluatePerplexity(
    const PerplexityOptions& options) {
  try {
    return Evaluate(options);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "perplexity evaluation");
  }
}

}  // namespace loraplex::engine
