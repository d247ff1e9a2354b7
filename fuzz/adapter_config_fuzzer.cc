// Fuzzes ParseLoraAdapterConfig (adapter_config.json as PEFT writes it) and
// PEFT's module matching (target/exclude lists and regexes,
// layers_to_transform, rank_pattern/alpha_pattern) over a 4-layer model.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/lora/lora_adapter.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loraplex::engine;
  auto config = ParseLoraAdapterConfig(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) return 0;
  LORAPLEX_FUZZ_CHECK(config->r >= 1);
  LORAPLEX_FUZZ_CHECK(std::isfinite(config->lora_alpha));
  for (int64_t layer = 0; layer < 4; ++layer) {
    for (int k = 0; k < kNumLinearKinds; ++k) {
      const LoraModuleSpec spec =
          ResolveLoraModule(*config, layer, static_cast<LinearKind>(k));
      if (spec.targeted) {
        LORAPLEX_FUZZ_CHECK(spec.rank >= 1);
        LORAPLEX_FUZZ_CHECK(!std::isnan(spec.scale));
      }
    }
  }
  return 0;
}
