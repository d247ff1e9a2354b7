// The public entry points end to end, as `loraplex-train` runs them:
// tokenizer -> base model -> LoRA adapter -> perplexity, with the outputs
// loaded by the Engine, plus their error paths.
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "engine/train/rank_sweep.h"
#include "engine/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_util/test_files.h"
#include "tests/engine/train/train_test_util.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::loraplex::testing::ReadFile;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;
using ::testing::HasSubstr;
using train_testing::Quiet;

constexpr char kSpec[] =
    R"({"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 64})";

TrainingOptions FastTraining(int64_t steps) {
  TrainingOptions o;
  o.steps = steps;
  o.seq_len = 32;
  o.batch_size = 4;
  o.lr = 1e-2;
  o.warmup_steps = 2;
  o.heldout_fraction = 0.1;
  return o;
}

// A directory with two corpora, a tokenizer trained on both, and a base
// model trained on the first (built once for the whole suite).
class TrainerApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::string prose, code;
    for (int i = 0; i < 60; ++i) {
      prose +=
          "And it came to pass that the people went up unto the city, "
          "and they were glad.\n";
      code += "def f" + std::to_string(i) + "(x):\n    return x * " +
              std::to_string(i) + " + 1\n\n";
    }
    WriteFile(dir_->Join("prose.txt"), prose);
    WriteFile(dir_->Join("code.txt"), code);
    WriteFile(dir_->Join("spec.json"), kSpec);
    TokenizerTrainOptions tok;
    tok.corpus_files = {dir_->Join("prose.txt"), dir_->Join("code.txt")};
    tok.vocab_size = 320;
    tok.out_dir = dir_->Join("tokenizer");
    auto tok_report = TrainTokenizer(tok, Quiet());
    ASSERT_TRUE(tok_report.ok()) << tok_report.status();

    BaseTrainOptions base;
    base.corpus_files = {dir_->Join("prose.txt")};
    base.tokenizer_dir = tok.out_dir;
    base.model_spec_path = dir_->Join("spec.json");
    base.out_dir = dir_->Join("base");
    base.training = FastTraining(20);
    auto report = TrainBaseModel(base, Quiet());
    ASSERT_TRUE(report.ok()) << report.status();
    base_report_ = new TrainReport(*report);
  }
  static void TearDownTestSuite() {
    delete base_report_;
    delete dir_;
  }

  static LoraTrainOptions CodeAdapter(const std::string& out) {
    LoraTrainOptions lora;
    lora.base_dir = dir_->Join("base");
    lora.corpus_files = {dir_->Join("code.txt")};
    lora.out_dir = dir_->Join(out);
    lora.rank = 4;
    lora.alpha = 8;
    lora.targets = {"q", "v", "down"};
    lora.training = FastTraining(15);
    return lora;
  }

  // Perplexity of the base on the code text, as the engine scores it.
  static PerplexityOptions CodeEval() {
    PerplexityOptions eval;
    eval.model_dir = dir_->Join("base");
    eval.text_files = {dir_->Join("code.txt")};
    eval.seq_len = 32;
    return eval;
  }

  static TempDir* dir_;
  static TrainReport* base_report_;
};

TempDir* TrainerApiTest::dir_ = nullptr;
TrainReport* TrainerApiTest::base_report_ = nullptr;

TEST_F(TrainerApiTest, BaseRunWritesAHuggingFaceDirectory) {
  for (const char* file :
       {"config.json", "generation_config.json", "model.safetensors",
        "tokenizer.json", "tokenizer_config.json", "train_report.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir_->Join("base/") + file)) << file;
  }
  EXPECT_LT(base_report_->final_loss, base_report_->first_loss);
  EXPECT_GT(base_report_->heldout_perplexity, 1.0);
  EXPECT_GT(base_report_->heldout_tokens, 0);
  nlohmann::json report =
      nlohmann::json::parse(ReadFile(dir_->Join("base/train_report.json")));
  EXPECT_EQ(report["kind"], "base");
  EXPECT_DOUBLE_EQ(report["heldout_perplexity"].get<double>(),
                   base_report_->heldout_perplexity);
  auto config = LoadModelConfig(dir_->Join("base"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vocab_size, 320);
  EXPECT_EQ(config->bos_token_id, 0);
}

TEST_F(TrainerApiTest, SameSeedSameWeights) {
  BaseTrainOptions again;
  again.corpus_files = {dir_->Join("prose.txt")};
  again.tokenizer_dir = dir_->Join("tokenizer");
  again.model_spec_path = dir_->Join("spec.json");
  again.out_dir = dir_->Join("base-again");
  again.training = FastTraining(20);
  ASSERT_TRUE(TrainBaseModel(again, Quiet()).ok());
  EXPECT_EQ(ReadFile(dir_->Join("base/model.safetensors")),
            ReadFile(dir_->Join("base-again/model.safetensors")));
  again.out_dir = dir_->Join("base-seed2");
  again.training.seed = 2;
  ASSERT_TRUE(TrainBaseModel(again, Quiet()).ok());
  EXPECT_NE(ReadFile(dir_->Join("base/model.safetensors")),
            ReadFile(dir_->Join("base-seed2/model.safetensors")));
}

TEST_F(TrainerApiTest, LoraAdapterLoadsThroughTheEngineAndLeavesTheBaseAlone) {
  const std::string base_weights =
      ReadFile(dir_->Join("base/model.safetensors"));
  auto report = TrainLoraAdapter(CodeAdapter("code-adapter"), Quiet());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(ReadFile(dir_->Join("base/model.safetensors")), base_weights);
  // r * (in + out) per module: q 32->32, v 32->16, down 64->32; 2 layers.
  EXPECT_EQ(report->trainable_parameters,
            2 * (4 * (32 + 32) + 4 * (32 + 16) + 4 * (64 + 32)));
  std::cout << "code held-out perplexity: base "
            << report->initial_heldout_perplexity << ", adapter "
            << report->heldout_perplexity << "\n";
  EXPECT_LT(report->heldout_perplexity, report->initial_heldout_perplexity);

  EngineOptions options;
  options.model_dir = dir_->Join("base");
  options.device = "cpu";
  options.max_seq_len = 64;
  auto engine = Engine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto summary = (*engine)->ValidateAdapter(dir_->Join("code-adapter"));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->max_rank, 4);
  EXPECT_EQ(summary->num_modules, 2 * 3);
  ASSERT_TRUE(
      (*engine)->RegisterAdapter("code", dir_->Join("code-adapter")).ok());
  ASSERT_TRUE((*engine)->LoadAdapter("code").ok());

  GenerationRequest request;
  request.adapter_id = "code";
  request.prompt_text = "def f";
  request.stopping.max_new_tokens = 8;
  request.stopping.ignore_eos = true;
  absl::Notification done;
  GenerationEvent last;
  auto id = (*engine)->Submit(request, [&](const GenerationEvent& e) {
    if (e.finished) {
      last = e;
      done.Notify();
    }
  });
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(last.finish_reason, FinishReason::kLength);
  EXPECT_EQ(last.usage.completion_tokens, 8);
}

TEST_F(TrainerApiTest, EvaluatePerplexityScoresAdaptersThroughTheEngine) {
  PerplexityOptions options = CodeEval();
  auto base = EvaluatePerplexity(options);
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_GT(base->tokens, 100);
  EXPECT_NEAR(base->perplexity, std::exp(base->mean_nll), 1e-9);
  ASSERT_TRUE(TrainLoraAdapter(CodeAdapter("code-eval"), Quiet()).ok());
  options.adapter_dir = dir_->Join("code-eval");
  auto adapted = EvaluatePerplexity(options);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  EXPECT_EQ(adapted->tokens, base->tokens);
  EXPECT_LT(adapted->perplexity, base->perplexity);
}

TEST_F(TrainerApiTest, PissaRunStartsAtTheBaseAndWritesARank2rAdapter) {
  LoraTrainOptions pissa = CodeAdapter("code-pissa");
  pissa.init = LoraInit::kPissa;
  auto report = TrainLoraAdapter(pissa, Quiet());
  ASSERT_TRUE(report.ok()) << report.status();
  auto plain = TrainLoraAdapter(CodeAdapter("code-plain"), Quiet());
  ASSERT_TRUE(plain.ok()) << plain.status();
  std::cout << "code held-out perplexity: base "
            << plain->initial_heldout_perplexity << ", default init "
            << plain->heldout_perplexity << ", PiSSA "
            << report->heldout_perplexity << "\n";
  // Residual + principal factors is the base model at step 0.
  EXPECT_NEAR(report->initial_heldout_perplexity,
              plain->initial_heldout_perplexity,
              1e-4 * plain->initial_heldout_perplexity);
  EXPECT_LT(report->heldout_perplexity, report->initial_heldout_perplexity);
  EXPECT_EQ(report->adapter_rank, 8);
  EXPECT_EQ(report->lora_init, "pissa");
  EXPECT_EQ(plain->adapter_rank, 4);
  const nlohmann::json config = nlohmann::json::parse(
      ReadFile(dir_->Join("code-pissa/adapter_config.json")));
  EXPECT_EQ(config["r"], 8);
  EXPECT_EQ(config["lora_alpha"], 16.0);
  const nlohmann::json written = nlohmann::json::parse(
      ReadFile(dir_->Join("code-pissa/train_report.json")));
  EXPECT_EQ(written["lora"]["init"], "pissa");
  EXPECT_EQ(written["lora"]["adapter_rank"], 8);

  // Scored by the engine on the base as it is on disk.
  PerplexityOptions eval = CodeEval();
  auto base = EvaluatePerplexity(eval);
  ASSERT_TRUE(base.ok()) << base.status();
  eval.adapter_dir = dir_->Join("code-pissa");
  auto adapted = EvaluatePerplexity(eval);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  EXPECT_LT(adapted->perplexity, base->perplexity);
}

TEST_F(TrainerApiTest, ReportsBadInputs) {
  BaseTrainOptions base;
  base.corpus_files = {dir_->Join("prose.txt")};
  base.tokenizer_dir = dir_->Join("tokenizer");
  base.model_spec_path = dir_->Join("missing.json");
  base.out_dir = dir_->Join("never");
  base.training = FastTraining(2);
  auto no_spec = TrainBaseModel(base, Quiet());
  EXPECT_EQ(no_spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(no_spec.status()), HasSubstr("missing.json"));

  base.model_spec_path = dir_->Join("spec.json");
  base.training.seq_len = 65;  // max_position_embeddings is 64.
  auto too_long = TrainBaseModel(base, Quiet());
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(too_long.status()),
              HasSubstr("max_position_embeddings"));

  base.training = FastTraining(0);
  EXPECT_THAT(MessageOf(TrainBaseModel(base, Quiet()).status()),
              HasSubstr("--steps"));
  EXPECT_FALSE(std::filesystem::exists(dir_->Join("never")));

  LoraTrainOptions lora = CodeAdapter("never-lora");
  lora.targets = {"q", "attn"};
  EXPECT_THAT(MessageOf(TrainLoraAdapter(lora, Quiet()).status()),
              HasSubstr("unknown LoRA target 'attn'"));
  lora = CodeAdapter("never-lora");
  lora.rank = 0;
  EXPECT_THAT(MessageOf(TrainLoraAdapter(lora, Quiet()).status()),
              HasSubstr("--rank"));
  lora = CodeAdapter("never-lora");
  lora.base_dir = dir_->Join("no-such-base");
  EXPECT_EQ(TrainLoraAdapter(lora, Quiet()).status().code(),
            absl::StatusCode::kNotFound);

  WriteFile(dir_->Join("empty.txt"), "");
  PerplexityOptions eval;
  eval.model_dir = dir_->Join("base");
  eval.text_files = {dir_->Join("empty.txt")};
  auto empty = EvaluatePerplexity(eval);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(empty.status()), HasSubstr("no tokens"));
  eval.batch_size = 0;
  EXPECT_EQ(EvaluatePerplexity(eval).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TrainerApiTest, RankSweepTrainsScoresAndChoosesARank) {
  RankSweepOptions options;
  options.base_dir = dir_->Join("base");
  options.train_files = {dir_->Join("code.txt")};
  options.heldout_files = {dir_->Join("code.txt")};
  options.ranks = {4, 1};
  options.targets = {"q", "v"};
  options.training = FastTraining(10);
  options.compressed_series = true;
  options.eval_seq_len = 32;
  options.out_dir = dir_->Join("sweep");
  auto report = RunRankSweep(options, Quiet());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->trained.size(), 2u);
  ASSERT_EQ(report->compressed.size(), 2u);
  EXPECT_EQ(report->trained[0].rank, 1);
  EXPECT_EQ(report->trained[1].rank, 4);
  EXPECT_GT(report->heldout_tokens, 100);
  for (const RankSweepPoint& p : report->trained) {
    EXPECT_LT(p.perplexity, report->base_perplexity) << "rank " << p.rank;
    EXPECT_TRUE(std::filesystem::exists(dir_->Join(
        "sweep/r" + std::to_string(p.rank) + "/adapter_model.safetensors")));
  }
  // A larger rank, a larger file (here mostly header: the model is tiny).
  EXPECT_GT(report->trained[1].adapter_bytes, report->trained[0].adapter_bytes);
  // Compressing the largest to its own rank rewrites it exactly.
  EXPECT_NEAR(report->compressed[1].perplexity, report->trained[1].perplexity,
              1e-4 * report->trained[1].perplexity);
  EXPECT_EQ(report->chosen_rank, ChooseRank(report->trained, 0.01));
  EXPECT_EQ(report->best_rank, ChooseRank(report->trained, 0));

  options.ranks = {2, 2};
  EXPECT_EQ(RunRankSweep(options, Quiet()).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.ranks = {2};
  options.heldout_files.clear();
  EXPECT_EQ(RunRankSweep(options, Quiet()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChooseRankTest, SmallestRankWithinToleranceOfTheBest) {
  const std::vector<RankSweepPoint> points = {
      {1, 10.5, 0, 0}, {2, 10.05, 0, 0}, {4, 10.0, 0, 0}, {8, 10.02, 0, 0}};
  EXPECT_EQ(ChooseRank(points, 0.01), 2);
  EXPECT_EQ(ChooseRank(points, 0.0), 4);
  EXPECT_EQ(ChooseRank(points, 0.1), 1);
  EXPECT_EQ(ChooseRank({}, 0.01), 0);
}

}  // namespace
}  // namespace loraplex::engine
