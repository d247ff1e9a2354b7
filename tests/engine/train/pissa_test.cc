// PiSSA: the factors start at each weight's principal part with the model
// unchanged, and the rank-2r export on the original base reproduces the
// trained (residual + factors) model in the inference engine.
#include "engine/train/pissa.h"

#include <string>
#include <vector>

#include "engine/lora/lora_adapter.h"
#include "engine/runtime/host_adapter.h"
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
using ::testing::HasSubstr;
using namespace train_testing;  // NOLINT: test helpers

constexpr int64_t kSeqLen = 24;
const std::vector<LinearKind> kAllKinds = {
    LinearKind::kQ,    LinearKind::kK,  LinearKind::kV,   LinearKind::kO,
    LinearKind::kGate, LinearKind::kUp, LinearKind::kDown};

double RelativeDifference(const torch::Tensor& x, const torch::Tensor& y) {
  return (x - y).norm().item<double>() / y.norm().item<double>();
}

// A few LoRA steps on the pattern corpus (base weights frozen).
void TrainFactors(LlamaTrainModel& model, const TempDir& dir) {
  TokenCorpus corpus = PatternCorpus(kSeqLen);
  TrainingLoopSetup setup;
  for (auto& [name, p] : model->LoraParameters()) setup.decayed.push_back(p);
  setup.options.steps = 6;
  setup.options.seq_len = kSeqLen;
  setup.options.batch_size = 8;
  setup.options.lr = 1e-2;
  setup.options.warmup_steps = 2;
  setup.options.weight_decay = 0;
  setup.checkpoint_path = dir.Join("pissa.pt");
  setup.signature = TrainingSignature(setup.options, "pissa test");
  ASSERT_TRUE(RunTrainingLoop(model, corpus, setup, Quiet()).ok());
}

TEST(PissaTest, FactorsHoldThePrincipalPartAndTheModelIsUnchanged) {
  LlamaTrainModel model = NewModel(TinyConfig(/*tied=*/false));
  for (torch::Tensor& p : model->parameters()) p.requires_grad_(false);
  const torch::Tensor w =
      model->linear(1, LinearKind::kDown)->weight.detach().to(torch::kFloat64);
  const auto before = TrainerLogits(model, TestPrompts());
  model->AttachLora(kAllKinds, /*rank=*/4, /*scale=*/2.0);
  absl::StatusOr<PissaStart> start = InitializePissa(model, kAllKinds, 1);
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_EQ(start->factors.size(), 2u * 7);
  EXPECT_EQ(start->randomized_modules, 0);

  const auto after = TrainerLogits(model, TestPrompts());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_LT(RelativeDifference(after[i], before[i]), 1e-4) << i;
  }
  // down_proj of layer 1 (32 x 64): s·B·A is its best rank-4 part and the
  // layer keeps exactly the rest of the spectrum.
  LoraLinear down = model->linear(1, LinearKind::kDown);
  const torch::Tensor principal =
      2.0 * down->lora_b_weight()
                .detach()
                .to(torch::kFloat64)
                .mm(down->lora_a_weight().detach().to(torch::kFloat64));
  const auto [u, s, vh] = torch::linalg_svd(w, false);
  const torch::Tensor top =
      u.slice(1, 0, 4).mm(torch::diag(s.slice(0, 0, 4))).mm(vh.slice(0, 0, 4));
  EXPECT_LT(RelativeDifference(principal, top), 1e-5);
  const torch::Tensor residual_sigma =
      torch::linalg_svdvals(down->weight.detach().to(torch::kFloat64));
  EXPECT_LT(RelativeDifference(residual_sigma.slice(0, 0, 28), s.slice(0, 4)),
            1e-5);
  // A and B carry √Σ each: equal norms, as PiSSA splits them.
  EXPECT_NEAR(down->lora_a_weight().norm().item<double>(),
              down->lora_b_weight().norm().item<double>(), 1e-4);
}

TEST(PissaTest, ExportOnTheOriginalBaseGivesTheTrainedModelsLogits) {
  TempDir dir;
  LlamaTrainModel model = NewModel(TinyConfig(/*tied=*/true, /*kv_heads=*/2));
  WriteTinyTokenizer(SampleText(40), dir.Join("tokenizer"));
  ASSERT_TRUE(
      WriteHfModelDir(model, 0.02, dir.Join("tokenizer"), dir.Join("base"))
          .ok());
  const auto base_logits = TrainerLogits(model, TestPrompts());
  for (torch::Tensor& p : model->parameters()) p.requires_grad_(false);
  model->AttachLora(kAllKinds, /*rank=*/4, /*scale=*/8.0 / 4);
  absl::StatusOr<PissaStart> start = InitializePissa(model, kAllKinds, 1);
  ASSERT_TRUE(start.ok()) << start.status();
  TrainFactors(model, dir);
  const auto trained_logits = TrainerLogits(model, TestPrompts());
  ASSERT_TRUE(WritePissaAdapterDir(model, *start, {4, 8.0, kAllKinds, "base"},
                                   dir.Join("adapter"))
                  .ok());

  const nlohmann::json config = nlohmann::json::parse(
      ::loraplex::testing::ReadFile(dir.Join("adapter/adapter_config.json")));
  EXPECT_EQ(config["r"], 8);
  EXPECT_EQ(config["lora_alpha"], 16.0);
  auto model_config = LoadModelConfig(dir.Join("base"));
  ASSERT_TRUE(model_config.ok());
  auto files = LoraAdapterFiles::Open(dir.Join("adapter"), *model_config);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->get()->summary().num_modules, 2 * 7);
  EXPECT_EQ(files->get()->summary().max_rank, 8);
  auto host = HostAdapter::FromFiles(**files, torch::kFloat32);
  ASSERT_TRUE(host.ok()) << host.status();
  LoraBank bank(*model_config, /*num_slots=*/2, /*max_rank=*/8, torch::kCPU,
                torch::kFloat32);
  bank.Load(1, **host);
  std::unique_ptr<LlamaModel> engine = LoadIntoEngine(dir.Join("base"));
  ASSERT_NE(engine, nullptr);
  ExpectSameLogits(trained_logits,
                   EngineLogits(*engine, &bank, TestPrompts(), 1));
  ExpectSameLogits(base_logits,
                   EngineLogits(*engine, &bank, TestPrompts(), -1));
  // Training did move the model, so the comparison above means something.
  EXPECT_GT((trained_logits[0] - base_logits[0]).abs().max().item<float>(),
            1e-3);
}

TEST(PissaTest, RefusesARankAboveAWeightsSmallerSide) {
  LlamaTrainModel model = NewModel(TinyConfig());
  for (torch::Tensor& p : model->parameters()) p.requires_grad_(false);
  // k_proj is 16 x 32 (2 KV heads of 8).
  model->AttachLora({LinearKind::kK}, /*rank=*/17, /*scale=*/1.0);
  absl::StatusOr<PissaStart> start =
      InitializePissa(model, {LinearKind::kK}, 1);
  EXPECT_EQ(start.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(start.status()),
              HasSubstr("--rank 17 exceeds model.layers.0.self_attn.k_proj"));
  LlamaTrainModel bare = NewModel(TinyConfig());
  EXPECT_EQ(InitializePissa(bare, {LinearKind::kQ}, 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace loraplex::engine
