// Fuzzes LoraAdapterFiles::Open, the adapter-directory validator every
// upload goes through, against the llama-gqa fixture model: the input is
// adapter_config.json and adapter_model.safetensors in the form
// fuzz_support.h's SplitInput reads. An adapter that opens must satisfy
// what lora_adapter.h promises (shapes, ranks, finite scaled weights).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace loraplex::engine;

const ModelConfig& Model() {
  static const ModelConfig* model = [] {
    absl::StatusOr<ModelConfig> config =
        LoadModelConfig(LORAPLEX_FUZZ_MODEL_DIR);
    if (!config.ok()) std::abort();
    return new ModelConfig(*std::move(config));
  }();
  return *model;
}

void CheckOpened(const LoraAdapterFiles& files) {
  const LoraValidationOptions defaults;
  LORAPLEX_FUZZ_CHECK(!files.modules().empty());
  for (const LoraModuleWeights& m : files.modules()) {
    const LinearShape shape = LinearShapeOf(Model(), m.kind);
    LORAPLEX_FUZZ_CHECK(m.rank >= 1 && m.rank <= defaults.max_rank);
    LORAPLEX_FUZZ_CHECK(m.lora_a->shape ==
                        std::vector<int64_t>({m.rank, shape.in_features}));
    LORAPLEX_FUZZ_CHECK(m.lora_b->shape ==
                        std::vector<int64_t>({shape.out_features, m.rank}));
    LORAPLEX_FUZZ_CHECK(std::isfinite(m.scale));
    LORAPLEX_FUZZ_CHECK(files.weights().Data(*m.lora_b).size() ==
                        m.lora_b->nbytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)Model();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const loraplex::fuzz::TwoParts parts = loraplex::fuzz::SplitInput(data, size);
  loraplex::fuzz::WriteScratchFile("adapter_config.json", parts.first);
  loraplex::fuzz::WriteScratchFile("adapter_model.safetensors", parts.second);
  auto files =
      LoraAdapterFiles::Open(loraplex::fuzz::ScratchDir::Path(), Model());
  if (files.ok()) CheckOpened(**files);
  return 0;
}
