// The dense update s·B·A of every module of an adapter directory, as the
// server applies it: the adapter opened and checked against the fixture
// model (tests/data/fixtures/hf-dev/llama-gqa), scales as its config
// resolves them (patterns, rsLoRA). The compression and extraction tests
// compare against these.
#ifndef LORAPLEX_TESTS_ENGINE_TRAIN_ADAPTER_UPDATES_H_
#define LORAPLEX_TESTS_ENGINE_TRAIN_ADAPTER_UPDATES_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "engine/runtime/torch_utils.h"
#include "engine/safetensors/safetensors_reader.h"
#include "gtest/gtest.h"
#include "tests/engine/lora/lora_test_util.h"

namespace loraplex::engine::train_testing {

using Updates = std::map<std::pair<int64_t, LinearKind>, torch::Tensor>;

// float64, by (layer, kind); empty (with a test failure) when the adapter
// does not open.
inline Updates FixtureAdapterUpdates(const std::string& adapter_dir) {
  absl::StatusOr<ModelConfig> model =
      LoadModelConfig(FixtureDir("llama-gqa/model"));
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  absl::StatusOr<std::unique_ptr<LoraAdapterFiles>> files =
      LoraAdapterFiles::Open(adapter_dir, *model);
  EXPECT_TRUE(files.ok()) << files.status();
  if (!files.ok()) return {};
  Updates updates;
  const SafetensorsFile& weights = (*files)->weights();
  for (const LoraModuleWeights& m : (*files)->modules()) {
    const torch::Tensor a = TensorFromBytes(*m.lora_a, weights.Data(*m.lora_a),
                                            torch::kFloat64, torch::kCPU);
    const torch::Tensor b = TensorFromBytes(*m.lora_b, weights.Data(*m.lora_b),
                                            torch::kFloat64, torch::kCPU);
    updates[{m.layer, m.kind}] = static_cast<double>(m.scale) * b.mm(a);
  }
  return updates;
}

}  // namespace loraplex::engine::train_testing

#endif  // LORAPLEX_TESTS_ENGINE_TRAIN_ADAPTER_UPDATES_H_
