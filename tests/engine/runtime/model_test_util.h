// Helpers for model-level tests (includes LibTorch): a checkpoint's tensors,
// fixture adapters read through the engine's own loader, and merged weights
// (W + weight * B A) to compare the unmerged LoRA path against.
#ifndef LORAPLEX_TESTS_ENGINE_RUNTIME_MODEL_TEST_UTIL_H_
#define LORAPLEX_TESTS_ENGINE_RUNTIME_MODEL_TEST_UTIL_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/torch_utils.h"
#include "engine/safetensors/safetensors_reader.h"
#include "gtest/gtest.h"
#include "tests/engine/runtime/fixture_cases.h"

namespace loraplex::engine::testing {

// Every tensor of the model directory `dir`, as float32 on the CPU, by HF
// name.
inline std::map<std::string, torch::Tensor> ReadTensors(
    const std::string& dir) {
  auto checkpoint = SafetensorsCheckpoint::Open(dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  std::map<std::string, torch::Tensor> tensors;
  if (!checkpoint.ok()) return tensors;
  for (const std::string& name : (*checkpoint)->TensorNames()) {
    const TensorInfo* info = (*checkpoint)->Find(name);
    tensors[name] = TensorFromBytes(*info, (*checkpoint)->Data(*info),
                                    torch::kFloat32, torch::kCPU);
  }
  return tensors;
}

// The HF name of the base weight that (layer, kind) adapts.
inline std::string WeightName(int64_t layer, LinearKind kind) {
  return "model.layers." + std::to_string(layer) + "." +
         std::string(LinearKindParent(kind)) + "." +
         std::string(LinearKindName(kind)) + ".weight";
}

// A fixture adapter of `model`, read as the engine's loader thread reads it
// (float32; null and a test failure if it does not load).
inline std::shared_ptr<const HostAdapter> ReadFixtureAdapter(
    const ModelConfig& config, const std::string& model,
    const std::string& adapter) {
  auto files =
      LoraAdapterFiles::Open(FixtureAdapterDir(model, adapter), config);
  EXPECT_TRUE(files.ok()) << files.status();
  if (!files.ok()) return nullptr;
  auto host = HostAdapter::FromFiles(**files, torch::kFloat32);
  EXPECT_TRUE(host.ok()) << host.status();
  return host.ok() ? *host : nullptr;
}

// Adds weight * (B_scaled A) of every module of `modules` to `weights`.
inline void AddMergedDelta(std::map<std::string, torch::Tensor>& weights,
                           const std::vector<HostLoraModule>& modules,
                           float weight) {
  for (const HostLoraModule& m : modules) {
    torch::Tensor& w = weights.at(WeightName(m.layer, m.kind));
    w = w + weight * torch::matmul(m.b_scaled.to(torch::kFloat32),
                                   m.a.to(torch::kFloat32));
  }
}

}  // namespace loraplex::engine::testing

#endif  // LORAPLEX_TESTS_ENGINE_RUNTIME_MODEL_TEST_UTIL_H_
