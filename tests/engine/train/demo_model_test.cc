// The committed demo model (models/demo): every tenant adapter must model
// its own domain's held-out text (models/demo/heldout/, never trained on)
// better than the base does. Perplexity is computed here, from the
// inference engine's logits, with base and adapter rows in one batch.
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "engine/safetensors/safetensors_reader.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

constexpr char kDemoDir[] = LORAPLEX_DEMO_MODEL_DIR;
constexpr int64_t kWindow = 128;  // Tokens per scored window, BOS included.
const char* const kDomains[] = {"scripture", "fortunes", "code"};

struct Row {
  std::vector<int32_t> window;  // BOS, then text tokens.
  int64_t domain = 0;           // Index into kDomains.
  int64_t lora_slot = -1;       // The domain's adapter, or -1 for the base.
  double nll = 0;
};

// Feeds every row one token per step (as decoding does) and adds
// -log p(next token) at each position to the row's NLL.
void ScoreRows(const LlamaModel& model, const LoraBank& bank,
               std::vector<Row>& rows) {
  c10::InferenceMode guard;
  KvCache kv(model.config(), static_cast<int64_t>(rows.size()), kWindow,
             torch::kCPU, torch::kFloat32);
  for (size_t pos = 0; pos + 1 < static_cast<size_t>(kWindow); ++pos) {
    std::vector<int32_t> tokens;
    std::vector<ForwardRow> step;
    std::vector<size_t> which;
    for (size_t r = 0; r < rows.size(); ++r) {
      if (pos + 1 >= rows[r].window.size()) continue;
      tokens.push_back(rows[r].window[pos]);
      step.push_back(ForwardRow{static_cast<int64_t>(r),
                                static_cast<int64_t>(pos), 1, rows[r].lora_slot,
                                /*want_logits=*/true});
      which.push_back(r);
    }
    if (step.empty()) break;
    torch::Tensor log_probs =
        torch::log_softmax(model.Forward(tokens, step, kv, &bank), -1);
    for (size_t i = 0; i < which.size(); ++i) {
      Row& row = rows[which[i]];
      row.nll -= log_probs[i][row.window[pos + 1]].item<double>();
    }
  }
}

TEST(DemoModelTest, EachAdapterBeatsTheBaseOnItsOwnDomain) {
  const std::string dir = kDemoDir;
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = SafetensorsCheckpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto model = LlamaModel::Load(*config, **checkpoint, torch::kCPU,
                                torch::kFloat32, kWindow);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ASSERT_TRUE((*tokenizer)->bos_token_id().has_value());
  const int32_t bos = *(*tokenizer)->bos_token_id();

  LoraBank bank(*config, /*num_slots=*/3, /*max_rank=*/64, torch::kCPU,
                torch::kFloat32);
  std::vector<Row> rows;
  std::map<std::string, int64_t> text_tokens;
  for (int64_t slot = 0; slot < 3; ++slot) {
    const std::string domain = kDomains[slot];
    auto files = LoraAdapterFiles::Open(dir + "/adapters/" + domain, *config);
    ASSERT_TRUE(files.ok()) << domain << ": " << files.status();
    auto host = HostAdapter::FromFiles(**files, torch::kFloat32);
    ASSERT_TRUE(host.ok()) << host.status();
    bank.Load(slot, **host);

    const std::string text =
        ::loraplex::testing::ReadFile(dir + "/heldout/" + domain + ".txt");
    auto ids = (*tokenizer)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    text_tokens[domain] = static_cast<int64_t>(ids->size());
    for (size_t pos = 0; pos < ids->size(); pos += kWindow - 1) {
      Row row;
      row.domain = slot;
      row.window = {bos};
      for (size_t i = pos; i < std::min(ids->size(), pos + kWindow - 1); ++i) {
        row.window.push_back((*ids)[i]);
      }
      row.lora_slot = -1;
      rows.push_back(row);  // The base on this window...
      row.lora_slot = slot;
      rows.push_back(row);  // ...and the domain's adapter on the same one.
    }
  }
  ScoreRows(**model, bank, rows);

  double base_nll[3] = {0, 0, 0};
  double adapter_nll[3] = {0, 0, 0};
  for (const Row& row : rows) {
    (row.lora_slot < 0 ? base_nll : adapter_nll)[row.domain] += row.nll;
  }
  for (int64_t d = 0; d < 3; ++d) {
    const std::string domain = kDomains[d];
    const auto n = static_cast<double>(text_tokens[domain]);
    const double base_ppl = std::exp(base_nll[d] / n);
    const double adapter_ppl = std::exp(adapter_nll[d] / n);
    std::cout << domain << ": " << text_tokens[domain]
              << " held-out tokens, base perplexity " << base_ppl
              << ", adapter perplexity " << adapter_ppl << " ("
              << 100.0 * (1.0 - adapter_ppl / base_ppl) << "% lower)\n";
    EXPECT_LT(adapter_ppl, base_ppl) << domain;
  }
}

}  // namespace
}  // namespace loraplex::engine
