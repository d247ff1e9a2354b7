#include "engine/train/training_options.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/train/file_util.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

absl::Status OutOfRange(const char* flag, const std::string& need, double got) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " must be ", need, " (got ", got, ")"));
}

}  // namespace

absl::Status ValidateTrainingOptions(const TrainingOptions& o) {
  if (o.steps < 1) return OutOfRange("steps", "at least 1", o.steps);
  if (o.seq_len < 2) return OutOfRange("seq-len", "at least 2", o.seq_len);
  if (o.batch_size < 1)
    return OutOfRange("batch-size", "at least 1", o.batch_size);
  if (!(o.lr > 0) || !std::isfinite(o.lr))
    return OutOfRange("lr", "positive", o.lr);
  if (o.warmup_steps < 0)
    return OutOfRange("warmup", "at least 0", o.warmup_steps);
  if (!(o.weight_decay >= 0)) {
    return OutOfRange("weight-decay", "at least 0", o.weight_decay);
  }
  if (!(o.clip_norm >= 0))
    return OutOfRange("clip", "at least 0 (0 = off)", o.clip_norm);
  if (!(o.heldout_fraction >= 0 && o.heldout_fraction <= 0.5)) {
    return OutOfRange("eval-fraction", "in [0, 0.5]", o.heldout_fraction);
  }
  if (o.checkpoint_every < 0) {
    return OutOfRange("checkpoint-every", "at least 0", o.checkpoint_every);
  }
  if (o.num_threads < 0)
    return OutOfRange("threads", "at least 0", o.num_threads);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LinearKind>> ParseLoraTargets(
    const std::vector<std::string>& names) {
  std::vector<LinearKind> kinds;
  for (const std::string& name : names) {
    const std::string full =
        absl::EndsWith(name, "_proj") ? name : absl::StrCat(name, "_proj");
    std::optional<LinearKind> kind = LinearKindFromName(full);
    if (!kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown LoRA target '", name,
          "': expected q, k, v, o, gate, up or down (or their *_proj names)"));
    }
    if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
      kinds.push_back(*kind);
    }
  }
  if (kinds.empty()) return absl::InvalidArgumentError("no LoRA targets given");
  return kinds;
}

absl::Status CheckTrainableArchitecture(const ModelConfig& c) {
  std::string unsupported;
  if (c.qkv_bias || c.o_bias || c.mlp_bias) unsupported = "linear-layer biases";
  if (c.rope_scaling.type != RopeScalingType::kNone)
    unsupported = "RoPE scaling";
  if (c.sliding_window) unsupported = "sliding-window attention";
  if (!unsupported.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the trainer supports plain Llama decoders; this ",
                     c.architecture, " uses ", unsupported));
  }
  return absl::OkStatus();
}

absl::Status WriteTrainReport(const std::string& out_dir,
                              const std::string& kind, const TrainingOptions& o,
                              const TrainReport& r) {
  nlohmann::ordered_json report = {
      {"kind", kind},
      {"steps", r.steps},
      {"parameters", r.parameters},
      {"trainable_parameters", r.trainable_parameters},
      {"train_tokens", r.train_tokens},
      {"heldout_tokens", r.heldout_tokens},
      {"first_loss", r.first_loss},
      {"final_loss", r.final_loss},
      {"initial_heldout_perplexity", r.initial_heldout_perplexity},
      {"heldout_perplexity", r.heldout_perplexity},
      {"seconds", r.seconds},
      {"tokens_per_second", r.tokens_per_second},
      {"settings",
       {{"seq_len", o.seq_len},
        {"batch_size", o.batch_size},
        {"lr", o.lr},
        {"warmup_steps", o.warmup_steps},
        {"weight_decay", o.weight_decay},
        {"clip_norm", o.clip_norm},
        {"seed", o.seed},
        {"heldout_fraction", o.heldout_fraction}}}};
  if (r.adapter_rank > 0) {
    report["lora"] = {{"init", r.lora_init}, {"adapter_rank", r.adapter_rank}};
  }
  return WriteFileAtomically(out_dir + "/train_report.json",
                             report.dump(2) + "\n");
}

}  // namespace loraplex::engine
