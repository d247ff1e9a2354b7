// Helpers for the trainer tests: tiny model configs, synthetic corpora,
// tokenizers on disk, and logits from the inference engine's LlamaModel.
#ifndef LORAPLEX_TESTS_ENGINE_TRAIN_TRAIN_TEST_UTIL_H_
#define LORAPLEX_TESTS_ENGINE_TRAIN_TRAIN_TEST_UTIL_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/config/model_config.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/train/bpe_trainer.h"
#include "engine/train/model_spec.h"
#include "engine/train/token_corpus.h"
#include "engine/train/train_model.h"
#include "engine/train/training_progress.h"
#include "gtest/gtest.h"

namespace loraplex::engine::train_testing {

inline constexpr int32_t kTinyVocab = 300;

// Progress options that print nothing.
inline ProgressOptions Quiet() {
  ProgressOptions p;
  p.quiet = true;
  return p;
}

// A 2-layer decoder small enough to train in milliseconds per step.
inline ModelConfig TinyConfig(bool tied = true, int64_t kv_heads = 2) {
  auto spec = ParseModelSpec(
      absl::StrCat(
          R"({"hidden_size": 32, "intermediate_size": 64,
          "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": )",
          kv_heads,
          R"(, "max_position_embeddings": 64, "tie_word_embeddings": )",
          tied ? "true" : "false", "}"),
      kTinyVocab, /*bos_id=*/0, /*eos_id=*/1);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec->config;
}

// Streams with learnable structure: each is a repeating phrase of 12 ids.
inline TokenCorpus PatternCorpus(int64_t seq_len, double heldout = 0.1) {
  std::vector<std::vector<int32_t>> streams;
  for (int s = 0; s < 3; ++s) {
    std::vector<int32_t> stream;
    for (int i = 0; i < 2000; ++i) stream.push_back(2 + (i % 12) * 7 + s * 90);
    streams.push_back(stream);
  }
  auto corpus =
      TokenCorpus::FromStreams(streams, /*bos_id=*/0, {heldout, seq_len});
  EXPECT_TRUE(corpus.ok()) << corpus.status();
  return *std::move(corpus);
}

// Trains a kTinyVocab-token BPE tokenizer on `text` into `dir`.
inline void WriteTinyTokenizer(const std::string& text,
                               const std::string& dir) {
  BpeTrainerOptions options;
  options.vocab_size = kTinyVocab;
  options.min_frequency = 1;
  auto trainer = BpeTrainer::Create(options);
  ASSERT_TRUE(trainer.ok());
  ASSERT_TRUE((*trainer)->AddText(text).ok());
  auto vocab = (*trainer)->Train();
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  ASSERT_EQ(vocab->tokens.size(), static_cast<size_t>(kTinyVocab));
  ASSERT_TRUE(WriteHfTokenizerFiles(*vocab, dir).ok());
}

// Text with enough variety for kTinyVocab tokens.
inline std::string SampleText(int repeats) {
  std::string text;
  for (int i = 0; i < repeats; ++i) {
    absl::StrAppend(&text, "line ", i, ": the quick brown fox jumps over the ",
                    "lazy dog; pack my box with five dozen liquor jugs. ",
                    "Sphinx of black quartz, judge my vow!\n");
  }
  return text;
}

// Last-position logits of each prompt, from the trainer's model.
inline std::vector<torch::Tensor> TrainerLogits(
    LlamaTrainModel& model, const std::vector<std::vector<int64_t>>& prompts) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (const auto& prompt : prompts) {
    torch::Tensor ids = torch::tensor(prompt, torch::kInt64).view({1, -1});
    out.push_back(model->forward(ids)[0][ids.size(1) - 1].clone());
  }
  return out;
}

// The same from the inference engine: all prompts in one prefill batch,
// each row with `lora_slot` (-1 = base).
inline torch::Tensor EngineLogits(
    const LlamaModel& model, const LoraBank* bank,
    const std::vector<std::vector<int64_t>>& prompts, int64_t lora_slot) {
  c10::InferenceMode guard;
  KvCache kv(model.config(), static_cast<int64_t>(prompts.size()), 64,
             torch::kCPU, torch::kFloat32);
  std::vector<int32_t> tokens;
  std::vector<ForwardRow> rows;
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (int64_t id : prompts[i]) tokens.push_back(static_cast<int32_t>(id));
    rows.push_back(ForwardRow{static_cast<int64_t>(i), 0,
                              static_cast<int64_t>(prompts[i].size()),
                              lora_slot, true});
  }
  return model.Forward(tokens, rows, kv, bank);
}

// A fresh trainer model with HF's initialisation from `seed`.
inline LlamaTrainModel NewModel(const ModelConfig& config, uint64_t seed = 5) {
  torch::manual_seed(seed);
  return LlamaTrainModel(config, 0.02, /*max_positions=*/64);
}

// The Hugging Face directory `dir` in the inference engine (float32, CPU).
inline std::unique_ptr<LlamaModel> LoadIntoEngine(const std::string& dir) {
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  auto checkpoint = SafetensorsCheckpoint::Open(dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto model =
      LlamaModel::Load(*config, **checkpoint, torch::kCPU, torch::kFloat32, 64);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

// Trainer logits (one tensor per prompt) against the engine's rows.
inline void ExpectSameLogits(const std::vector<torch::Tensor>& trainer,
                             const torch::Tensor& engine,
                             float tolerance = 1e-4f) {
  ASSERT_EQ(engine.size(0), static_cast<int64_t>(trainer.size()));
  for (size_t i = 0; i < trainer.size(); ++i) {
    const float diff = (trainer[i] - engine[i]).abs().max().item<float>();
    EXPECT_LT(diff, tolerance) << "prompt " << i;
  }
}

inline std::vector<std::vector<int64_t>> TestPrompts() {
  return {{0, 5, 9, 44, 17}, {0}, {0, 299, 3, 3, 3, 3, 100, 250, 8, 61, 2, 7}};
}

}  // namespace loraplex::engine::train_testing

#endif  // LORAPLEX_TESTS_ENGINE_TRAIN_TRAIN_TEST_UTIL_H_
