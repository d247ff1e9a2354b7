// Fuzzes ParseModelConfig: config.json and generation_config.json (the
// input's two parts, see fuzz_support.h), then the derived shapes the
// engine sizes its tensors by.
#include <cstddef>
#include <cstdint>

#include "engine/config/model_config.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loraplex::engine;
  const loraplex::fuzz::TwoParts parts = loraplex::fuzz::SplitInput(data, size);
  auto config = ParseModelConfig(parts.first, parts.second);
  if (!config.ok()) return 0;
  LORAPLEX_FUZZ_CHECK(config->num_hidden_layers >= 1);
  LORAPLEX_FUZZ_CHECK(config->hidden_size >= 1 && config->head_dim >= 1);
  LORAPLEX_FUZZ_CHECK(config->num_key_value_heads >= 1);
  LORAPLEX_FUZZ_CHECK(
      config->num_attention_heads % config->num_key_value_heads == 0);
  for (int32_t id : config->eos_token_ids) {
    LORAPLEX_FUZZ_CHECK(id >= 0 && id < config->vocab_size);
  }
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearShape shape =
        LinearShapeOf(*config, static_cast<LinearKind>(k));
    LORAPLEX_FUZZ_CHECK(shape.in_features >= 1 && shape.out_features >= 1);
  }
  return 0;
}
