// The trainer's model and loop: training lowers the loss, what it writes
// loads into the inference engine with the same logits (base and LoRA),
// LoRA training never touches the base weights, and checkpoints resume bit
// for bit.
#include "engine/train/train_model.h"

#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "engine/lora/lora_adapter.h"
#include "engine/runtime/host_adapter.h"
#include "engine/train/checkpoint.h"
#include "engine/train/model_export.h"
#include "engine/train/training_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_util/test_files.h"
#include "tests/engine/train/train_test_util.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::HasSubstr;
using namespace train_testing;  // NOLINT: test helpers

constexpr int64_t kSeqLen = 24;

TrainingLoopSetup BaseSetup(LlamaTrainModel& model, int64_t steps,
                            const std::string& checkpoint_path) {
  TrainingLoopSetup setup;
  for (torch::Tensor& p : model->parameters()) {
    (p.dim() >= 2 ? setup.decayed : setup.not_decayed).push_back(p);
  }
  setup.options.steps = steps;
  setup.options.seq_len = kSeqLen;
  setup.options.batch_size = 8;
  setup.options.lr = 1e-2;
  setup.options.warmup_steps = 5;
  setup.options.seed = 99;
  setup.checkpoint_path = checkpoint_path;
  setup.signature = TrainingSignature(setup.options, "test");
  return setup;
}

std::map<std::string, torch::Tensor> Snapshot(LlamaTrainModel& model) {
  std::map<std::string, torch::Tensor> copy;
  for (const auto& item : model->named_parameters()) {
    copy[item.key()] = item.value().detach().clone();
  }
  return copy;
}

TEST(TrainModelTest, NamesParametersAsHuggingFace) {
  LlamaTrainModel untied = NewModel(TinyConfig(/*tied=*/false));
  std::vector<std::string> names;
  for (const auto& [name, t] : untied->BaseParameters()) names.push_back(name);
  EXPECT_THAT(names,
              ::testing::IsSupersetOf(
                  {"model.embed_tokens.weight", "model.norm.weight",
                   "lm_head.weight", "model.layers.1.self_attn.k_proj.weight",
                   "model.layers.0.mlp.down_proj.weight",
                   "model.layers.0.post_attention_layernorm.weight"}));
  EXPECT_EQ(names.size(), 2u + 2 * 9 + 1);
  LlamaTrainModel tied = NewModel(TinyConfig(/*tied=*/true));
  EXPECT_EQ(tied->BaseParameters().size(), 2u + 2 * 9);
  EXPECT_TRUE(tied->LoraParameters().empty());
}

TEST(TrainModelTest, AFewStepsLowerTheLoss) {
  TempDir dir;
  LlamaTrainModel model = NewModel(TinyConfig());
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  const double before = HeldoutPerplexity(model, corpus, 8);
  auto result = RunTrainingLoop(
      model, corpus, BaseSetup(model, 40, dir.Join("ckpt.pt")), Quiet());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->finished);
  const double after = HeldoutPerplexity(model, corpus, 8);
  std::cout << "loss " << result->first_loss << " -> " << result->final_loss
            << ", held-out perplexity " << before << " -> " << after << "\n";
  EXPECT_LT(result->final_loss, result->first_loss - 1.0);
  EXPECT_LT(after, before / 2);
}

class ExportTest : public ::testing::TestWithParam<std::pair<bool, int64_t>> {};

TEST_P(ExportTest, WrittenBaseModelGivesTheSameLogitsInTheEngine) {
  const auto [tied, kv_heads] = GetParam();
  TempDir dir;
  LlamaTrainModel model = NewModel(TinyConfig(tied, kv_heads));
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  ASSERT_TRUE(RunTrainingLoop(model, corpus,
                              BaseSetup(model, 5, dir.Join("c.pt")), Quiet())
                  .ok());
  WriteTinyTokenizer(SampleText(40), dir.Join("tokenizer"));
  ASSERT_TRUE(
      WriteHfModelDir(model, 0.02, dir.Join("tokenizer"), dir.Join("model"))
          .ok());
  EXPECT_EQ(std::filesystem::exists(dir.Join("model/tokenizer.json")), true);
  auto checkpoint = SafetensorsCheckpoint::Open(dir.Join("model"));
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ((*checkpoint)->Find("lm_head.weight") != nullptr, !tied);

  std::unique_ptr<LlamaModel> engine = LoadIntoEngine(dir.Join("model"));
  ASSERT_NE(engine, nullptr);
  ExpectSameLogits(TrainerLogits(model, TestPrompts()),
                   EngineLogits(*engine, nullptr, TestPrompts(), -1));
}

INSTANTIATE_TEST_SUITE_P(TiedAndGqa, ExportTest,
                         ::testing::Values(std::make_pair(true, int64_t{2}),
                                           std::make_pair(false, int64_t{4}),
                                           std::make_pair(false, int64_t{1})));

// Freezes the model and trains LoRA factors on it for a few steps.
void TrainLora(LlamaTrainModel& model, const TempDir& dir,
               const std::vector<LinearKind>& kinds) {
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  for (torch::Tensor& p : model->parameters()) p.requires_grad_(false);
  model->AttachLora(kinds, /*rank=*/4, /*scale=*/8.0 / 4);
  TrainingLoopSetup setup = BaseSetup(model, 6, dir.Join("l.pt"));
  setup.decayed.clear();
  setup.not_decayed.clear();
  for (auto& [name, p] : model->LoraParameters()) setup.decayed.push_back(p);
  setup.options.weight_decay = 0.1;  // Must not reach the frozen weights.
  ASSERT_TRUE(RunTrainingLoop(model, corpus, setup, Quiet()).ok());
}

TEST(LoraTrainingTest, LeavesBaseWeightsBitIdentical) {
  TempDir dir;
  LlamaTrainModel model = NewModel(TinyConfig(/*tied=*/false));
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  ASSERT_TRUE(RunTrainingLoop(model, corpus,
                              BaseSetup(model, 3, dir.Join("b.pt")), Quiet())
                  .ok());
  const auto before = Snapshot(model);
  for (torch::Tensor& p : model->parameters()) p.requires_grad_(false);
  model->AttachLora({LinearKind::kQ, LinearKind::kV, LinearKind::kDown}, 4,
                    2.0);
  const auto lora_start = Snapshot(model);
  TrainingLoopSetup setup = BaseSetup(model, 6, dir.Join("l.pt"));
  setup.decayed.clear();
  setup.not_decayed.clear();
  for (auto& [name, p] : model->LoraParameters()) setup.decayed.push_back(p);
  ASSERT_TRUE(RunTrainingLoop(model, corpus, setup, Quiet()).ok());

  int lora_changed = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (before.count(name)) {
      EXPECT_TRUE(torch::equal(before.at(name), item.value())) << name;
    } else if (!torch::equal(lora_start.at(name), item.value())) {
      ++lora_changed;
    }
  }
  EXPECT_EQ(lora_changed, 2 * 3 * 2);  // Every A and B of 3 kinds x 2 layers.
}

TEST(LoraTrainingTest, WrittenAdapterGivesTheSameLogitsInTheEngine) {
  TempDir dir;
  LlamaTrainModel model = NewModel(TinyConfig(/*tied=*/true, /*kv_heads=*/2));
  const std::vector<LinearKind> kinds = {
      LinearKind::kQ,    LinearKind::kK,  LinearKind::kV,   LinearKind::kO,
      LinearKind::kGate, LinearKind::kUp, LinearKind::kDown};
  WriteTinyTokenizer(SampleText(40), dir.Join("tokenizer"));
  // The base as trained, written before the LoRA branches exist.
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  ASSERT_TRUE(RunTrainingLoop(model, corpus,
                              BaseSetup(model, 5, dir.Join("b.pt")), Quiet())
                  .ok());
  ASSERT_TRUE(
      WriteHfModelDir(model, 0.02, dir.Join("tokenizer"), dir.Join("base"))
          .ok());
  const auto base_logits = TrainerLogits(model, TestPrompts());
  TrainLora(model, dir, kinds);
  PeftAdapterInfo info{4, 8.0, kinds, "base"};
  ASSERT_TRUE(WritePeftAdapterDir(model, info, dir.Join("adapter")).ok());

  auto config = LoadModelConfig(dir.Join("base"));
  ASSERT_TRUE(config.ok());
  auto files = LoraAdapterFiles::Open(dir.Join("adapter"), *config);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->get()->summary().num_modules, 2 * 7);
  EXPECT_EQ(files->get()->summary().max_rank, 4);
  auto host = HostAdapter::FromFiles(**files, torch::kFloat32);
  ASSERT_TRUE(host.ok()) << host.status();
  LoraBank bank(*config, /*num_slots=*/2, /*max_rank=*/8, torch::kCPU,
                torch::kFloat32);
  bank.Load(1, **host);
  std::unique_ptr<LlamaModel> engine = LoadIntoEngine(dir.Join("base"));
  ASSERT_NE(engine, nullptr);
  const auto lora_logits = TrainerLogits(model, TestPrompts());
  ExpectSameLogits(lora_logits, EngineLogits(*engine, &bank, TestPrompts(), 1));
  ExpectSameLogits(base_logits,
                   EngineLogits(*engine, &bank, TestPrompts(), -1));
  // The adapter did change the model.
  EXPECT_GT((lora_logits[0] - base_logits[0]).abs().max().item<float>(), 1e-3);
}

TEST(LoraTrainingTest, AdapterConfigIsPeftsFormat) {
  TempDir dir;
  LlamaTrainModel model = NewModel(TinyConfig());
  model->AttachLora({LinearKind::kV, LinearKind::kQ}, 2, 1.0);
  ASSERT_TRUE(WritePeftAdapterDir(
                  model,
                  {2, 2.0, {LinearKind::kV, LinearKind::kQ}, "loraplex/demo"},
                  dir.Join("a"))
                  .ok());
  nlohmann::json config = nlohmann::json::parse(
      ::loraplex::testing::ReadFile(dir.Join("a/adapter_config.json")));
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["task_type"], "CAUSAL_LM");
  EXPECT_EQ(config["r"], 2);
  EXPECT_EQ(config["lora_alpha"], 2.0);
  EXPECT_EQ(config["target_modules"], nlohmann::json({"q_proj", "v_proj"}));
  EXPECT_EQ(config["bias"], "none");
  EXPECT_EQ(config["use_rslora"], false);
  EXPECT_EQ(config["use_dora"], false);
  EXPECT_EQ(config["fan_in_fan_out"], false);
  EXPECT_EQ(config["inference_mode"], true);
  EXPECT_TRUE(config["modules_to_save"].is_null());
  EXPECT_EQ(config["base_model_name_or_path"], "loraplex/demo");
  auto weights = SafetensorsFile::Open(dir.Join("a/adapter_model.safetensors"));
  ASSERT_TRUE(weights.ok());
  const TensorInfo* a = (*weights)->Find(
      "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight");
  const TensorInfo* b = (*weights)->Find(
      "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 32}));  // [r, in]
  EXPECT_EQ(b->shape, (std::vector<int64_t>{16, 2}));  // [out = 2 kv x 8, r]
  EXPECT_EQ((*weights)->tensors().size(), 2u * 2 * 2);
}

TEST(CheckpointTest, ResumedRunMatchesAnUninterruptedOneBitForBit) {
  TempDir dir;
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  LlamaTrainModel straight = NewModel(TinyConfig());
  ASSERT_TRUE(RunTrainingLoop(straight, corpus,
                              BaseSetup(straight, 8, dir.Join("a.pt")), Quiet())
                  .ok());

  LlamaTrainModel first = NewModel(TinyConfig());
  TrainingLoopSetup setup = BaseSetup(first, 8, dir.Join("b.pt"));
  setup.stop_after_step = 3;
  auto stopped = RunTrainingLoop(first, corpus, setup, Quiet());
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_FALSE(stopped->finished);

  // A fresh process: different initial weights, same flags + --resume.
  LlamaTrainModel resumed = NewModel(TinyConfig(), /*seed=*/777);
  TrainingLoopSetup resume = BaseSetup(resumed, 8, dir.Join("b.pt"));
  resume.options.resume = true;
  auto result = RunTrainingLoop(resumed, corpus, resume, Quiet());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->first_step, 3);
  EXPECT_TRUE(result->finished);
  const auto expected = Snapshot(straight);
  for (const auto& item : resumed->named_parameters()) {
    EXPECT_TRUE(torch::equal(expected.at(item.key()), item.value()))
        << item.key();
  }
}

TEST(CheckpointTest, RefusesACheckpointOfAnotherRun) {
  TempDir dir;
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  LlamaTrainModel model = NewModel(TinyConfig());
  ASSERT_TRUE(RunTrainingLoop(model, corpus,
                              BaseSetup(model, 2, dir.Join("c.pt")), Quiet())
                  .ok());
  TrainingLoopSetup other = BaseSetup(model, 2, dir.Join("c.pt"));
  other.options.lr = 5e-3;
  other.options.resume = true;
  other.signature = TrainingSignature(other.options, "test");
  auto result = RunTrainingLoop(model, corpus, other, Quiet());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(result.status()), HasSubstr("other settings"));
}

TEST(CheckpointTest, ReportsAnUnreadableCheckpoint) {
  TempDir dir;
  WriteFile(dir.Join("bad.pt"), "not a checkpoint");
  LlamaTrainModel model = NewModel(TinyConfig());
  TrainingLoopSetup setup = BaseSetup(model, 2, dir.Join("bad.pt"));
  setup.options.resume = true;
  auto result = RunTrainingLoop(model, PatternCorpus(kSeqLen), setup, Quiet());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(result.status()),
              HasSubstr("cannot restore checkpoint"));
}

TEST(TrainModelTest, LoadHfTensorsChecksNamesAndShapes) {
  LlamaTrainModel source = NewModel(TinyConfig(/*tied=*/true));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, t] : source->BaseParameters())
    tensors[name] = t.detach();

  LlamaTrainModel target = NewModel(TinyConfig(/*tied=*/true), /*seed=*/6);
  auto with_head = tensors;
  with_head["lm_head.weight"] = tensors["model.embed_tokens.weight"];
  ASSERT_TRUE(target->LoadHfTensors(with_head).ok());  // Redundant tied head.
  for (const auto& [name, t] : target->BaseParameters()) {
    EXPECT_TRUE(torch::equal(t, tensors.at(name))) << name;
  }

  auto missing = tensors;
  missing.erase("model.layers.1.mlp.up_proj.weight");
  EXPECT_THAT(MessageOf(target->LoadHfTensors(missing)),
              HasSubstr("lack 'model.layers.1.mlp.up_proj.weight'"));
  auto reshaped = tensors;
  reshaped["model.norm.weight"] = torch::ones({31});
  const absl::Status shape = target->LoadHfTensors(reshaped);
  EXPECT_EQ(shape.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(shape), HasSubstr("has shape [31]"));
  auto extra = tensors;
  extra["model.layers.2.mlp.up_proj.weight"] = torch::ones({2});
  EXPECT_THAT(MessageOf(target->LoadHfTensors(extra)),
              HasSubstr("does not use"));
}

}  // namespace
}  // namespace loraplex::engine
