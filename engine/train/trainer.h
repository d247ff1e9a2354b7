// loraplex-train's entry points: train a byte-level BPE tokenizer, a
// Llama-architecture base model from scratch, or a LoRA adapter on a frozen
// base, and measure held-out perplexity through the inference engine. Plain
// types only (no LibTorch): LibTorch errors come back as absl::Status.
//
// Each function blocks until done and uses the calling thread plus
// LibTorch's intra-op pool. Outputs are Hugging Face layouts:
//   tokenizer: tokenizer.json, tokenizer_config.json
//   base:      config.json, generation_config.json, model.safetensors,
//              tokenizer files, train_report.json (+ checkpoint/ while
//              training)
//   lora:      adapter_config.json, adapter_model.safetensors (PEFT),
//              train_report.json (+ checkpoint/)
#ifndef LORAPLEX_ENGINE_TRAIN_TRAINER_H_
#define LORAPLEX_ENGINE_TRAIN_TRAINER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/train/training_progress.h"

namespace loraplex::engine {

struct TokenizerTrainOptions {
  std::vector<std::string> corpus_files;
  int32_t vocab_size = 4096;  // Specials and byte alphabet included.
  int64_t min_frequency = 2;  // Rarer pairs are never merged.
  std::string out_dir;
};

struct TokenizerTrainReport {
  int32_t vocab_size = 0;  // May be below the request for tiny corpora.
  int64_t merges = 0;
  int64_t distinct_words = 0;
  int64_t corpus_bytes = 0;
  double seconds = 0;
};

absl::StatusOr<TokenizerTrainReport> TrainTokenizer(
    const TokenizerTrainOptions& options, const ProgressOptions& progress);

// Optimisation settings shared by base and LoRA training.
struct TrainingOptions {
  int64_t steps = 1000;            // Optimizer steps.
  int64_t seq_len = 128;           // Tokens per window, BOS included.
  int64_t batch_size = 16;         // Windows per step.
  double lr = 1e-3;                // Peak AdamW learning rate.
  int64_t warmup_steps = 50;       // Linear warm-up, then cosine to lr / 10.
  double weight_decay = 0.1;       // AdamW decay on matrices (not norms).
  double clip_norm = 1.0;          // Global gradient-norm clip; 0 = off.
  uint64_t seed = 1234;            // Initialisation and window sampling.
  double heldout_fraction = 0.02;  // Last part of each file, for eval.
  int64_t checkpoint_every = 0;    // Steps between checkpoints; 0 = end only.
  bool resume = false;             // Continue from <out>/checkpoint/ if there.
  int32_t num_threads = 0;         // LibTorch intra-op threads; 0 = default.
};

struct BaseTrainOptions {
  std::vector<std::string> corpus_files;
  std::string tokenizer_dir;    // From TrainTokenizer.
  std::string model_spec_path;  // Architecture JSON, see model_spec.h.
  std::string out_dir;
  TrainingOptions training;
};

// How the LoRA factors start.
enum class LoraInit {
  // PEFT's default: A Kaiming-uniform, B zero; the model starts as the base.
  kDefault,
  // PiSSA: the factors start at each target weight's top-r singular
  // directions and the layer keeps the residual; the adapter is written as
  // an exact rank-2r LoRA of the unchanged base (engine/train/pissa.h).
  kPissa,
};

struct LoraTrainOptions {
  std::string base_dir;  // A directory TrainBaseModel wrote (or any HF
                         // float32/16 Llama with a tokenizer).
  std::vector<std::string> corpus_files;
  std::string out_dir;
  int64_t rank = 8;
  double alpha = 16;  // scale = alpha / rank
  // Short ("q") or full ("q_proj") names of the adapted linear layers.
  std::vector<std::string> targets = {"q", "k", "v", "o"};
  LoraInit init = LoraInit::kDefault;
  // Written to adapter_config.json; defaults to base_dir.
  std::string base_model_name;
  TrainingOptions training;
};

struct TrainReport {
  int64_t steps = 0;
  int64_t parameters = 0;  // All parameters of the model.
  int64_t trainable_parameters = 0;
  int64_t train_tokens = 0;  // In the corpus (not seen tokens).
  int64_t heldout_tokens = 0;
  double first_loss = 0;  // Loss of this session's first step.
  double final_loss = 0;  // Mean loss over the last 10 steps.
  // Held-out perplexity before training (LoRA runs: the base model's) and
  // after. 0 when nothing is held out.
  double initial_heldout_perplexity = 0;
  double heldout_perplexity = 0;
  double seconds = 0;
  double tokens_per_second = 0;
  // LoRA runs: the rank of the written adapter (2 x rank with PiSSA) and
  // the initialisation ("default", "pissa"); 0 and empty for base runs.
  int64_t adapter_rank = 0;
  std::string lora_init;
};

absl::StatusOr<TrainReport> TrainBaseModel(const BaseTrainOptions& options,
                                           const ProgressOptions& progress);
absl::StatusOr<TrainReport> TrainLoraAdapter(const LoraTrainOptions& options,
                                             const ProgressOptions& progress);

struct PerplexityOptions {
  std::string model_dir;
  std::string adapter_dir;  // Empty: the base model alone.
  std::vector<std::string> text_files;
  int64_t seq_len = 128;    // Window length, BOS included.
  int64_t batch_size = 16;  // Windows decoded together.
  int32_t num_threads = 0;
};

struct PerplexityReport {
  int64_t tokens = 0;  // Predicted tokens.
  double mean_nll = 0;
  double perplexity = 0;
};

// Runs the inference engine's model (LlamaModel with a LoraBank, as the
// server does) over every file, cut into BOS-led windows exactly like
// held-out data, and averages the next-token NLL.
absl::StatusOr<PerplexityReport> EvaluatePerplexity(
    const PerplexityOptions& options);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_TRAINER_H_
