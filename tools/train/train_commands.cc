#include "tools/train/train_commands.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "engine/common/status_macros.h"
#include "engine/train/adapter_compression.h"
#include "engine/train/adapter_extraction.h"
#include "engine/train/file_util.h"
#include "engine/train/rank_sweep.h"
#include "engine/train/trainer.h"
#include "nlohmann/json.hpp"
#include "tools/cli/command_line.h"

namespace loraplex::train_cli {
namespace {

using cli::CommandLine;
using cli::FlagSpec;
using cli::RepeatedFlag;
using cli::SwitchFlag;
using cli::ValueFlag;

// Flags of every training command (base and lora).
std::vector<FlagSpec> TrainingFlagSpecs(const std::string& lr,
                                        const std::string& weight_decay) {
  return {
      ValueFlag("steps", "optimizer steps", "1000"),
      ValueFlag("seq-len", "tokens per training window, BOS included", "128"),
      ValueFlag("batch-size", "windows per step", "16"),
      ValueFlag("lr", "peak AdamW learning rate", lr),
      ValueFlag("warmup", "linear warm-up steps (then cosine to lr/10)", "50"),
      ValueFlag("weight-decay", "AdamW weight decay on matrices", weight_decay),
      ValueFlag("clip", "gradient-norm clip (0 = off)", "1.0"),
      ValueFlag("seed", "seed for initialisation and sampling", "1234"),
      ValueFlag("eval-fraction",
                "held-out share of each corpus file (its last tokens)", "0.02"),
      ValueFlag("checkpoint-every", "steps between checkpoints (0 = end only)",
                "0"),
      SwitchFlag("resume", "continue from OUT/checkpoint/state.pt if present"),
      ValueFlag("threads", "LibTorch CPU threads (0 = default)", "0"),
      ValueFlag("log-every", "steps between progress lines off a terminal",
                "10"),
      SwitchFlag("quiet", "no progress output"),
      SwitchFlag("help", "show this help"),
  };
}

int UsageError(std::ostream& err, const absl::Status& status,
               const std::string& command) {
  err << "loraplex-train " << command << ": " << status.message()
      << "\n(run 'loraplex-train " << command << " --help' for usage)\n";
  return 2;
}

int Failure(std::ostream& err, const absl::Status& status,
            const std::string& command) {
  err << "loraplex-train " << command << ": " << status << "\n";
  return 1;
}

// --corpus FILE takes one value; further words that are not flags are more
// corpus files, so a shell glob works: --corpus texts/*.txt.
std::vector<std::string> FilesOf(const CommandLine& cl,
                                 const std::string& flag) {
  std::vector<std::string> files = cl.GetAll(flag);
  files.insert(files.end(), cl.positional().begin(), cl.positional().end());
  return files;
}

absl::Status Require(const CommandLine& cl, const std::string& flag) {
  if (cl.Get(flag).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
  }
  return absl::OkStatus();
}

// --rank K or --energy E, exactly one (compress and extract).
absl::Status RankOrEnergyFrom(const CommandLine& cl, int64_t* rank,
                              double* energy) {
  if (cl.Get("rank").empty() == cl.Get("energy").empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of --rank and --energy");
  }
  if (!cl.Get("rank").empty()) {
    ASSIGN_OR_RETURN(*rank, cl.GetInt("rank"));
    if (*rank < 1)
      return absl::InvalidArgumentError("--rank must be at least 1");
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(*energy, cl.GetDouble("energy"));
  if (!(*energy > 0 && *energy <= 1)) {
    return absl::InvalidArgumentError("--energy must be in (0, 1]");
  }
  return absl::OkStatus();
}

absl::StatusOr<engine::TrainingOptions> TrainingOptionsFrom(
    const CommandLine& cl) {
  engine::TrainingOptions o;
  ASSIGN_OR_RETURN(o.steps, cl.GetInt("steps"));
  ASSIGN_OR_RETURN(o.seq_len, cl.GetInt("seq-len"));
  ASSIGN_OR_RETURN(o.batch_size, cl.GetInt("batch-size"));
  ASSIGN_OR_RETURN(o.lr, cl.GetDouble("lr"));
  ASSIGN_OR_RETURN(o.warmup_steps, cl.GetInt("warmup"));
  ASSIGN_OR_RETURN(o.weight_decay, cl.GetDouble("weight-decay"));
  ASSIGN_OR_RETURN(o.clip_norm, cl.GetDouble("clip"));
  ASSIGN_OR_RETURN(const int64_t seed, cl.GetInt("seed"));
  o.seed = static_cast<uint64_t>(seed);
  ASSIGN_OR_RETURN(o.heldout_fraction, cl.GetDouble("eval-fraction"));
  ASSIGN_OR_RETURN(o.checkpoint_every, cl.GetInt("checkpoint-every"));
  o.resume = cl.Get("resume") == "true";
  ASSIGN_OR_RETURN(const int64_t threads, cl.GetInt("threads"));
  o.num_threads = static_cast<int32_t>(threads);
  return o;
}

absl::StatusOr<engine::ProgressOptions> ProgressOptionsFrom(
    const CommandLine& cl) {
  engine::ProgressOptions p;
  ASSIGN_OR_RETURN(p.log_every, cl.GetInt("log-every"));
  if (p.log_every < 1) {
    return absl::InvalidArgumentError("--log-every must be at least 1");
  }
  p.quiet = cl.Get("quiet") == "true";
  p.out = stderr;
  return p;
}

void PrintReport(std::ostream& out, const engine::TrainReport& r,
                 const std::string& out_dir) {
  // A base model trained from scratch has no "before" perplexity (0 in the
  // report); an adapter's is the frozen base's.
  const std::string before =
      r.initial_heldout_perplexity > 0
          ? absl::StrFormat(" (before: %.3f)", r.initial_heldout_perplexity)
          : std::string();
  out << absl::StrFormat(
      "steps %d  parameters %d (trainable %d)  loss %.4f -> %.4f\n"
      "held-out perplexity %.3f%s over %d tokens\n"
      "%.0f tokens/s, %.1f s; wrote %s\n",
      r.steps, r.parameters, r.trainable_parameters, r.first_loss, r.final_loss,
      r.heldout_perplexity, before, r.heldout_tokens, r.tokens_per_second,
      r.seconds, out_dir);
  if (r.lora_init == "pissa") {
    out << absl::StrFormat(
        "PiSSA: the adapter is a rank-%d LoRA of the unchanged base\n",
        r.adapter_rank);
  }
}

}  // namespace

int RunTokenizerCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  const std::vector<FlagSpec> specs = {
      ValueFlag("corpus", "text file(s) to learn from (UTF-8)"),
      ValueFlag("vocab-size", "tokens in all (2 specials + 256 bytes + merges)",
                "4096"),
      ValueFlag("min-frequency", "pairs seen fewer times are never merged",
                "2"),
      ValueFlag("out", "output directory"),
      SwitchFlag("quiet", "no progress output"),
      SwitchFlag("help", "show this help"),
  };
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "tokenizer");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train tokenizer --corpus FILES... --vocab-size V --out DIR",
        "Trains a byte-level BPE tokenizer (GPT-2 alphabet and pre-tokenizer, "
        "<|begin_of_text|>/<|end_of_text|>)\nand writes tokenizer.json and "
        "tokenizer_config.json.",
        specs);
    return 0;
  }
  engine::TokenizerTrainOptions options;
  options.corpus_files = FilesOf(*cl, "corpus");
  options.out_dir = cl->Get("out");
  auto vocab = cl->GetInt("vocab-size");
  auto min_frequency = cl->GetInt("min-frequency");
  absl::Status usage = Require(*cl, "out");
  if (usage.ok()) usage = vocab.status();
  if (usage.ok()) usage = min_frequency.status();
  if (!usage.ok()) return UsageError(err, usage, "tokenizer");
  options.vocab_size = static_cast<int32_t>(*vocab);
  options.min_frequency = *min_frequency;
  engine::ProgressOptions progress;
  progress.quiet = cl->Get("quiet") == "true";
  auto report = engine::TrainTokenizer(options, progress);
  if (!report.ok()) return Failure(err, report.status(), "tokenizer");
  out << absl::StrFormat(
      "vocabulary %d tokens (%d merges) from %d bytes -> %s\n",
      report->vocab_size, report->merges, report->corpus_bytes,
      options.out_dir);
  return 0;
}

int RunBaseCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  std::vector<FlagSpec> specs = {
      ValueFlag("corpus", "training text file(s)"),
      ValueFlag("tokenizer", "directory with tokenizer.json"),
      ValueFlag("config",
                "architecture JSON (hidden_size, layers, heads, ...)"),
      ValueFlag("out", "output directory (Hugging Face layout)"),
  };
  for (FlagSpec& spec : TrainingFlagSpecs("1e-3", "0.1")) specs.push_back(spec);
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "base");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train base --corpus FILES... --tokenizer DIR --config "
        "small.json --steps S --out DIR",
        "Trains a Llama-architecture model from scratch and writes "
        "config.json, "
        "generation_config.json,\nmodel.safetensors, the tokenizer files and "
        "train_report.json.",
        specs);
    return 0;
  }
  engine::BaseTrainOptions options;
  options.corpus_files = FilesOf(*cl, "corpus");
  options.tokenizer_dir = cl->Get("tokenizer");
  options.model_spec_path = cl->Get("config");
  options.out_dir = cl->Get("out");
  absl::Status usage = Require(*cl, "tokenizer");
  if (usage.ok()) usage = Require(*cl, "config");
  if (usage.ok()) usage = Require(*cl, "out");
  auto training = TrainingOptionsFrom(*cl);
  auto progress = ProgressOptionsFrom(*cl);
  if (usage.ok()) usage = training.status();
  if (usage.ok()) usage = progress.status();
  if (!usage.ok()) return UsageError(err, usage, "base");
  options.training = *training;
  auto report = engine::TrainBaseModel(options, *progress);
  if (!report.ok()) return Failure(err, report.status(), "base");
  PrintReport(out, *report, options.out_dir);
  return 0;
}

int RunLoraCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  std::vector<FlagSpec> specs = {
      ValueFlag("base", "base model directory (with its tokenizer)"),
      ValueFlag("corpus", "training text file(s)"),
      ValueFlag("rank", "LoRA rank r", "8"),
      ValueFlag("alpha", "LoRA alpha (scale = alpha / r)", "16"),
      ValueFlag("targets", "comma-separated layers: q,k,v,o,gate,up,down",
                "q,k,v,o"),
      ValueFlag("init",
                "how the factors start: default (PEFT's: B zero) or pissa "
                "(each weight's top-r singular directions; the adapter is "
                "written at rank 2r)",
                "default"),
      ValueFlag("base-model-name",
                "base_model_name_or_path for adapter_config.json (default: "
                "--base)"),
      ValueFlag("out", "output directory (PEFT layout)"),
  };
  for (FlagSpec& spec : TrainingFlagSpecs("2e-3", "0.0")) specs.push_back(spec);
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "lora");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train lora --base DIR --corpus FILES... --rank R --alpha A "
        "--targets q,k,v,o --steps S --out DIR",
        "Trains a LoRA adapter on the frozen base model and writes PEFT's "
        "adapter_config.json and\nadapter_model.safetensors (and "
        "train_report.json).",
        specs);
    return 0;
  }
  engine::LoraTrainOptions options;
  options.base_dir = cl->Get("base");
  options.corpus_files = FilesOf(*cl, "corpus");
  options.out_dir = cl->Get("out");
  options.base_model_name = cl->Get("base-model-name");
  options.targets = absl::StrSplit(cl->Get("targets"), ',', absl::SkipEmpty());
  auto rank = cl->GetInt("rank");
  auto alpha = cl->GetDouble("alpha");
  auto training = TrainingOptionsFrom(*cl);
  auto progress = ProgressOptionsFrom(*cl);
  absl::Status usage = Require(*cl, "base");
  if (usage.ok()) usage = Require(*cl, "out");
  for (const absl::Status& s :
       {rank.status(), alpha.status(), training.status(), progress.status()}) {
    if (usage.ok()) usage = s;
  }
  if (cl->Get("init") == "pissa") {
    options.init = engine::LoraInit::kPissa;
  } else if (cl->Get("init") != "default" && usage.ok()) {
    usage = absl::InvalidArgumentError(absl::StrCat(
        "--init must be default or pissa, not '", cl->Get("init"), "'"));
  }
  if (!usage.ok()) return UsageError(err, usage, "lora");
  options.rank = *rank;
  options.alpha = *alpha;
  options.training = *training;
  auto report = engine::TrainLoraAdapter(options, *progress);
  if (!report.ok()) return Failure(err, report.status(), "lora");
  PrintReport(out, *report, options.out_dir);
  return 0;
}

int RunEvalCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  const std::vector<FlagSpec> specs = {
      ValueFlag("model", "base model directory"),
      ValueFlag("adapter", "PEFT adapter directory (default: base alone)"),
      ValueFlag("text", "text file(s) to score"),
      ValueFlag("seq-len", "window length, BOS included", "128"),
      ValueFlag("batch-size", "windows decoded together", "16"),
      ValueFlag("threads", "LibTorch CPU threads (0 = default)", "0"),
      SwitchFlag("help", "show this help"),
  };
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "eval");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train eval --model DIR [--adapter DIR] --text FILES...",
        "Prints the perplexity of the model (with the adapter) on the text, "
        "computed with the inference\nengine's forward pass over BOS-led "
        "windows, as JSON.",
        specs);
    return 0;
  }
  engine::PerplexityOptions options;
  options.model_dir = cl->Get("model");
  options.adapter_dir = cl->Get("adapter");
  options.text_files = FilesOf(*cl, "text");
  auto seq_len = cl->GetInt("seq-len");
  auto batch = cl->GetInt("batch-size");
  auto threads = cl->GetInt("threads");
  absl::Status usage = Require(*cl, "model");
  for (const absl::Status& s :
       {seq_len.status(), batch.status(), threads.status()}) {
    if (usage.ok()) usage = s;
  }
  if (usage.ok() && options.text_files.empty()) {
    usage = absl::InvalidArgumentError("--text FILE is required");
  }
  if (!usage.ok()) return UsageError(err, usage, "eval");
  options.seq_len = *seq_len;
  options.batch_size = *batch;
  options.num_threads = static_cast<int32_t>(*threads);
  auto report = engine::EvaluatePerplexity(options);
  if (!report.ok()) return Failure(err, report.status(), "eval");
  out << absl::StrFormat(
      "{\"tokens\": %d, \"mean_nll\": %.6f, \"perplexity\": %.4f}\n",
      report->tokens, report->mean_nll, report->perplexity);
  return 0;
}

namespace {

nlohmann::json CompressionJson(const engine::AdapterCompressionReport& r) {
  nlohmann::json modules = nlohmann::json::array();
  for (const engine::ModuleCompression& m : r.modules) {
    modules.push_back({{"layer", m.layer},
                       {"module", m.module},
                       {"rank_in", m.rank_in},
                       {"rank_out", m.rank_out},
                       {"retained_energy", m.retained_energy},
                       {"relative_error", m.relative_error},
                       {"bytes_in", m.bytes_in},
                       {"bytes_out", m.bytes_out}});
  }
  return {{"modules", modules},
          {"max_rank_in", r.max_rank_in},
          {"max_rank_out", r.max_rank_out},
          {"retained_energy", r.retained_energy},
          {"relative_error", r.relative_error},
          {"bytes_in", r.bytes_in},
          {"bytes_out", r.bytes_out}};
}

void PrintCompression(std::ostream& out,
                      const engine::AdapterCompressionReport& r) {
  out << absl::StrFormat("%-5s %-9s %6s %6s %10s %10s %10s %10s\n", "layer",
                         "module", "r_in", "r_out", "energy", "rel_error",
                         "bytes_in", "bytes_out");
  for (const engine::ModuleCompression& m : r.modules) {
    out << absl::StrFormat("%-5d %-9s %6d %6d %10.6f %10.6f %10d %10d\n",
                           m.layer, m.module, m.rank_in, m.rank_out,
                           m.retained_energy, m.relative_error, m.bytes_in,
                           m.bytes_out);
  }
  out << absl::StrFormat(
      "total: %d modules, rank %d -> %d, retained energy %.6f, relative "
      "error %.6f, %d -> %d bytes (%.1f%%)\n",
      r.modules.size(), r.max_rank_in, r.max_rank_out, r.retained_energy,
      r.relative_error, r.bytes_in, r.bytes_out,
      r.bytes_in > 0 ? 100.0 * static_cast<double>(r.bytes_out) /
                           static_cast<double>(r.bytes_in)
                     : 0.0);
}

}  // namespace

int RunCompressCommand(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
  const std::vector<FlagSpec> specs = {
      ValueFlag("adapter", "PEFT LoRA adapter directory to compress"),
      ValueFlag("rank", "target rank K for every module"),
      ValueFlag("energy",
                "per module, the smallest rank keeping this fraction of the "
                "update's energy (0 < E <= 1)"),
      ValueFlag("out", "output directory (PEFT layout)"),
      ValueFlag("model",
                "base model directory: with --eval-text, held-out perplexity "
                "of base, adapter and compressed adapter"),
      ValueFlag("eval-text", "held-out text file(s) for the perplexity"),
      ValueFlag("seq-len", "perplexity window length, BOS included", "128"),
      ValueFlag("threads", "LibTorch CPU threads (0 = default)", "0"),
      SwitchFlag("json", "print the report as JSON"),
      SwitchFlag("help", "show this help"),
  };
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "compress");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train compress --adapter DIR (--rank K | --energy E) --out "
        "DIR [--model DIR --eval-text FILES...] [--json]",
        "Rewrites a LoRA adapter at a lower rank by truncated SVD of each "
        "module's update (the best\nrank-K approximation, computed from the "
        "factors alone) and reports, per module, the rank,\nretained energy, "
        "relative Frobenius error and bytes.",
        specs);
    return 0;
  }
  engine::AdapterCompressionOptions options;
  options.adapter_dir = cl->Get("adapter");
  options.out_dir = cl->Get("out");
  absl::Status usage = Require(*cl, "adapter");
  if (usage.ok()) usage = Require(*cl, "out");
  if (usage.ok()) usage = RankOrEnergyFrom(*cl, &options.rank, &options.energy);
  const std::vector<std::string> eval_files = FilesOf(*cl, "eval-text");
  if (usage.ok() && cl->Get("model").empty() != eval_files.empty()) {
    usage = absl::InvalidArgumentError(
        "--model and --eval-text go together (both or neither)");
  }
  auto seq_len = cl->GetInt("seq-len");
  auto threads = cl->GetInt("threads");
  for (const absl::Status& s : {seq_len.status(), threads.status()}) {
    if (usage.ok()) usage = s;
  }
  if (!usage.ok()) return UsageError(err, usage, "compress");

  auto report = engine::CompressLoraAdapter(options);
  if (!report.ok()) return Failure(err, report.status(), "compress");
  nlohmann::json json = CompressionJson(*report);
  if (!eval_files.empty()) {
    engine::PerplexityOptions eval;
    eval.model_dir = cl->Get("model");
    eval.text_files = eval_files;
    eval.seq_len = *seq_len;
    eval.num_threads = static_cast<int32_t>(*threads);
    nlohmann::json perplexity;
    for (const auto& [name, adapter] :
         std::vector<std::pair<std::string, std::string>>{
             {"base", ""},
             {"adapter", options.adapter_dir},
             {"compressed", options.out_dir}}) {
      eval.adapter_dir = adapter;
      auto scored = engine::EvaluatePerplexity(eval);
      if (!scored.ok()) return Failure(err, scored.status(), "compress");
      perplexity[name] = scored->perplexity;
      perplexity["tokens"] = scored->tokens;
    }
    json["heldout_perplexity"] = perplexity;
  }
  if (cl->Has("json")) {
    out << json.dump(2) << "\n";
    return 0;
  }
  PrintCompression(out, *report);
  if (json.contains("heldout_perplexity")) {
    const nlohmann::json& p = json["heldout_perplexity"];
    out << absl::StrFormat(
        "held-out perplexity over %d tokens: base %.4f, adapter %.4f, "
        "compressed %.4f\n",
        p["tokens"].get<int64_t>(), p["base"].get<double>(),
        p["adapter"].get<double>(), p["compressed"].get<double>());
  }
  out << "wrote " << options.out_dir << "\n";
  return 0;
}

namespace {

nlohmann::json ExtractionJson(const engine::AdapterExtractionReport& r) {
  nlohmann::json modules = nlohmann::json::array();
  for (const engine::ModuleExtraction& m : r.modules) {
    modules.push_back({{"layer", m.layer},
                       {"module", m.module},
                       {"rank", m.rank},
                       {"svd", m.randomized ? "randomized" : "full"},
                       {"retained_energy", m.retained_energy},
                       {"relative_error", m.relative_error},
                       {"bytes", m.bytes}});
  }
  nlohmann::json changed = nlohmann::json::array();
  for (const auto& [name, relative_change] : r.changed_untargeted) {
    changed.push_back({{"tensor", name}, {"relative_change", relative_change}});
  }
  return {{"modules", modules},
          {"max_rank", r.max_rank},
          {"retained_energy", r.retained_energy},
          {"relative_error", r.relative_error},
          {"bytes", r.bytes},
          {"changed_untargeted", changed}};
}

}  // namespace

int RunExtractCommand(const std::vector<std::string>& args, std::ostream& out,
                      std::ostream& err) {
  const std::vector<FlagSpec> specs = {
      ValueFlag("base", "base model directory (Hugging Face)"),
      ValueFlag("tuned", "fully fine-tuned model directory, same architecture"),
      ValueFlag("rank", "rank K of every module"),
      ValueFlag("energy",
                "per module, the smallest rank keeping this fraction of the "
                "update's energy (0 < E <= 1)"),
      ValueFlag("targets", "comma-separated layers: q,k,v,o,gate,up,down",
                "q,k,v,o,gate,up,down"),
      ValueFlag("svd",
                "auto (randomized for --rank on matrices over 1024 on their "
                "smaller side), full or randomized",
                "auto"),
      ValueFlag("base-model-name",
                "base_model_name_or_path for adapter_config.json (default: "
                "--base)"),
      ValueFlag("out", "output directory (PEFT layout)"),
      ValueFlag("eval-text",
                "held-out text file(s): perplexity of base, tuned and "
                "base + extracted adapter"),
      ValueFlag("seq-len", "perplexity window length, BOS included", "128"),
      ValueFlag("threads", "LibTorch CPU threads (0 = default)", "0"),
      SwitchFlag("json", "print the report as JSON"),
      SwitchFlag("help", "show this help"),
  };
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "extract");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train extract --base DIR --tuned DIR (--rank K | --energy "
        "E) [--targets q,v] --out DIR [--eval-text FILES...] [--json]",
        "Writes a LoRA adapter approximating a fully fine-tuned model: per "
        "targeted layer, the truncated\nSVD of W_tuned - W_base. Reports per "
        "module the rank, retained energy, relative error and bytes,\nand "
        "every other weight the tuned model changed (the adapter cannot carry "
        "it).",
        specs);
    return 0;
  }
  engine::AdapterExtractionOptions options;
  options.base_dir = cl->Get("base");
  options.tuned_dir = cl->Get("tuned");
  options.out_dir = cl->Get("out");
  options.base_model_name = cl->Get("base-model-name");
  options.targets = absl::StrSplit(cl->Get("targets"), ',', absl::SkipEmpty());
  absl::Status usage = Require(*cl, "base");
  if (usage.ok()) usage = Require(*cl, "tuned");
  if (usage.ok()) usage = Require(*cl, "out");
  if (usage.ok()) usage = RankOrEnergyFrom(*cl, &options.rank, &options.energy);
  const std::string svd = cl->Get("svd");
  if (svd == "full") {
    options.svd = engine::SvdMethod::kFull;
  } else if (svd == "randomized") {
    options.svd = engine::SvdMethod::kRandomized;
  } else if (svd != "auto" && usage.ok()) {
    usage =
        absl::InvalidArgumentError("--svd must be auto, full or randomized");
  }
  auto seq_len = cl->GetInt("seq-len");
  auto threads = cl->GetInt("threads");
  for (const absl::Status& s : {seq_len.status(), threads.status()}) {
    if (usage.ok()) usage = s;
  }
  if (!usage.ok()) return UsageError(err, usage, "extract");

  auto report = engine::ExtractLoraAdapter(options);
  if (!report.ok()) return Failure(err, report.status(), "extract");
  nlohmann::json json = ExtractionJson(*report);
  const std::vector<std::string> eval_files = FilesOf(*cl, "eval-text");
  if (!eval_files.empty()) {
    engine::PerplexityOptions eval;
    eval.text_files = eval_files;
    eval.seq_len = *seq_len;
    eval.num_threads = static_cast<int32_t>(*threads);
    nlohmann::json perplexity;
    for (const auto& [name, model, adapter] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"base", options.base_dir, ""},
             {"tuned", options.tuned_dir, ""},
             {"extracted", options.base_dir, options.out_dir}}) {
      eval.model_dir = model;
      eval.adapter_dir = adapter;
      auto scored = engine::EvaluatePerplexity(eval);
      if (!scored.ok()) return Failure(err, scored.status(), "extract");
      perplexity[name] = scored->perplexity;
      perplexity["tokens"] = scored->tokens;
    }
    json["heldout_perplexity"] = perplexity;
  }
  if (cl->Has("json")) {
    out << json.dump(2) << "\n";
    return 0;
  }
  out << absl::StrFormat("%-5s %-9s %5s %-10s %10s %10s %10s\n", "layer",
                         "module", "rank", "svd", "energy", "rel_error",
                         "bytes");
  for (const engine::ModuleExtraction& m : report->modules) {
    out << absl::StrFormat("%-5d %-9s %5d %-10s %10.6f %10.6f %10d\n", m.layer,
                           m.module, m.rank,
                           m.randomized ? "randomized" : "full",
                           m.retained_energy, m.relative_error, m.bytes);
  }
  out << absl::StrFormat(
      "total: %d modules, rank <= %d, retained energy %.6f, relative error "
      "%.6f, %d bytes\n",
      report->modules.size(), report->max_rank, report->retained_energy,
      report->relative_error, report->bytes);
  for (const auto& [name, change] : report->changed_untargeted) {
    out << absl::StrFormat(
        "NOT CARRIED: the tuned model changed %s (relative change %.3g)\n",
        name, change);
  }
  if (json.contains("heldout_perplexity")) {
    const nlohmann::json& p = json["heldout_perplexity"];
    out << absl::StrFormat(
        "held-out perplexity over %d tokens: base %.4f, tuned %.4f, base + "
        "extracted %.4f\n",
        p["tokens"].get<int64_t>(), p["base"].get<double>(),
        p["tuned"].get<double>(), p["extracted"].get<double>());
  }
  out << "wrote " << options.out_dir << "\n";
  return 0;
}

namespace {

nlohmann::json SweepPointsJson(
    const std::vector<engine::RankSweepPoint>& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const engine::RankSweepPoint& p : points) {
    out.push_back({{"rank", p.rank},
                   {"perplexity", p.perplexity},
                   {"adapter_bytes", p.adapter_bytes},
                   {"seconds", p.seconds}});
  }
  return out;
}

// A gnuplot script with its data inline: held-out perplexity (left axis)
// and adapter bytes (right axis) against rank (log 2), trained and, when
// present, compressed from the largest.
std::string SweepPlotScript(const engine::RankSweepReport& r,
                            const std::string& png) {
  const auto block = [](const std::vector<engine::RankSweepPoint>& points) {
    std::string lines;
    for (const engine::RankSweepPoint& p : points) {
      lines += absl::StrFormat("%d %.6f %d\n", p.rank, p.perplexity,
                               p.adapter_bytes);
    }
    return lines + "e\n";
  };
  std::string script = absl::StrFormat(
      "set terminal pngcairo size 900,520 font \"sans,11\"\n"
      "set output \"%s\"\n"
      "set title \"Held-out perplexity by LoRA rank (base %.3f, chosen rank "
      "%d)\"\n"
      "set logscale x 2\n"
      "set xlabel \"rank\"\n"
      "set ylabel \"held-out perplexity\"\n"
      "set y2label \"adapter bytes\"\n"
      "set ytics nomirror\n"
      "set y2tics\n"
      "set grid\n"
      "plot '-' using 1:2 with linespoints lw 2 title \"trained\", "
      "'-' using 1:3 axes x1y2 with lines dt 2 title \"adapter bytes\"",
      png, r.base_perplexity, r.chosen_rank);
  if (!r.compressed.empty()) {
    script +=
        ", '-' using 1:2 with linespoints lw 2 title \"compressed from the "
        "largest\"";
  }
  script += "\n" + block(r.trained) + block(r.trained);
  if (!r.compressed.empty()) script += block(r.compressed);
  return script;
}

// Runs `gnuplot script` without a shell; false when gnuplot is missing or
// fails.
bool RunGnuplot(const std::string& script_path) {
  pid_t pid = 0;
  std::string program = "gnuplot";
  std::string path = script_path;
  char* argv[] = {program.data(), path.data(), nullptr};
  if (posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv, environ) != 0) {
    return false;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int RunRankSweepCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  std::vector<FlagSpec> specs = {
      ValueFlag("model", "base model directory (with its tokenizer)"),
      ValueFlag("train", "training text file(s)"),
      ValueFlag("heldout", "held-out text file(s) to score every adapter on"),
      ValueFlag("ranks", "comma-separated ranks", "1,2,4,8,16,32,64"),
      ValueFlag("alpha-per-rank", "alpha = this x rank at every rank", "2"),
      ValueFlag("targets", "comma-separated layers: q,k,v,o,gate,up,down",
                "q,k,v,o"),
      ValueFlag("tolerance",
                "choose the smallest rank within this fraction of the best "
                "perplexity",
                "0.01"),
      SwitchFlag("compressed",
                 "also compress the largest rank's adapter to every smaller "
                 "rank and score it"),
      ValueFlag("eval-seq-len", "perplexity window length, BOS included",
                "128"),
      ValueFlag("out",
                "output directory: sweep.json, sweep.gp, sweep.png, r<rank>/"),
  };
  for (FlagSpec& spec : TrainingFlagSpecs("2e-3", "0.0")) specs.push_back(spec);
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "rank-sweep");
  if (cl->Has("help")) {
    out << cli::FormatHelp(
        "loraplex-train rank-sweep --model DIR --train FILES... --heldout "
        "FILES... --ranks 1,2,4,8 --steps S --out DIR",
        "Trains one adapter per rank with the same data, seed and steps, "
        "scores each on the held-out\ntext through the engine, and names the "
        "smallest rank within --tolerance of the best. Writes\nsweep.json "
        "and a gnuplot script sweep.gp, drawn as sweep.png when gnuplot is "
        "installed.",
        specs);
    return 0;
  }
  engine::RankSweepOptions options;
  options.base_dir = cl->Get("model");
  options.train_files = FilesOf(*cl, "train");
  options.heldout_files = cl->GetAll("heldout");
  options.out_dir = cl->Get("out");
  options.compressed_series = cl->Get("compressed") == "true";
  options.targets = absl::StrSplit(cl->Get("targets"), ',', absl::SkipEmpty());
  absl::Status usage = Require(*cl, "model");
  if (usage.ok()) usage = Require(*cl, "out");
  if (usage.ok()) usage = Require(*cl, "heldout");
  options.ranks.clear();
  for (absl::string_view r :
       absl::StrSplit(cl->Get("ranks"), ',', absl::SkipEmpty())) {
    int64_t rank = 0;
    if (!absl::SimpleAtoi(r, &rank) && usage.ok()) {
      usage = absl::InvalidArgumentError(
          absl::StrCat("--ranks: '", r, "' is not a number"));
    }
    options.ranks.push_back(rank);
  }
  auto alpha = cl->GetDouble("alpha-per-rank");
  auto tolerance = cl->GetDouble("tolerance");
  auto eval_seq_len = cl->GetInt("eval-seq-len");
  auto training = TrainingOptionsFrom(*cl);
  auto progress = ProgressOptionsFrom(*cl);
  for (const absl::Status& s :
       {alpha.status(), tolerance.status(), eval_seq_len.status(),
        training.status(), progress.status()}) {
    if (usage.ok()) usage = s;
  }
  if (!usage.ok()) return UsageError(err, usage, "rank-sweep");
  options.alpha_per_rank = *alpha;
  options.tolerance = *tolerance;
  options.eval_seq_len = *eval_seq_len;
  options.training = *training;

  auto report = engine::RunRankSweep(options, *progress);
  if (!report.ok()) return Failure(err, report.status(), "rank-sweep");
  const nlohmann::json json = {
      {"model", options.base_dir},
      {"train", options.train_files},
      {"heldout", options.heldout_files},
      {"targets", options.targets},
      {"alpha_per_rank", options.alpha_per_rank},
      {"steps", options.training.steps},
      {"seed", options.training.seed},
      {"heldout_tokens", report->heldout_tokens},
      {"base_perplexity", report->base_perplexity},
      {"trained", SweepPointsJson(report->trained)},
      {"compressed", SweepPointsJson(report->compressed)},
      {"tolerance", options.tolerance},
      {"best_rank", report->best_rank},
      {"chosen_rank", report->chosen_rank}};
  absl::Status written = engine::WriteFileAtomically(
      options.out_dir + "/sweep.json", json.dump(2) + "\n");
  const std::string script = options.out_dir + "/sweep.gp";
  if (written.ok()) {
    written = engine::WriteFileAtomically(
        script, SweepPlotScript(*report, options.out_dir + "/sweep.png"));
  }
  if (!written.ok()) return Failure(err, written, "rank-sweep");
  out << absl::StrFormat("%6s %12s %14s %10s\n", "rank", "perplexity",
                         "adapter bytes", "seconds");
  for (const engine::RankSweepPoint& p : report->trained) {
    out << absl::StrFormat("%6d %12.4f %14d %10.1f\n", p.rank, p.perplexity,
                           p.adapter_bytes, p.seconds);
  }
  for (const engine::RankSweepPoint& p : report->compressed) {
    out << absl::StrFormat("%5dc %12.4f %14d %10.1f\n", p.rank, p.perplexity,
                           p.adapter_bytes, p.seconds);
  }
  out << absl::StrFormat(
      "base perplexity %.4f over %d tokens; best rank %d; chosen rank %d "
      "(within %.1f%% of the best)\n",
      report->base_perplexity, report->heldout_tokens, report->best_rank,
      report->chosen_rank, 100 * options.tolerance);
  if (RunGnuplot(script)) {
    out << "wrote " << options.out_dir << "/sweep.json and sweep.png\n";
  } else {
    out << "wrote " << options.out_dir
        << "/sweep.json (no sweep.png: install gnuplot and run 'gnuplot "
        << script << "')\n";
  }
  return 0;
}

}  // namespace loraplex::train_cli
