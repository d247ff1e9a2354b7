// Hugging Face tokenizers' post-processors, for single sequences: the
// special tokens `encode(text, add_special_tokens=True)` puts around the
// ids. Supported types: TemplateProcessing (its "single" template),
// ByteLevel (changes offsets only: nothing to do for ids), Sequence.
#ifndef LORAPLEX_ENGINE_TOKENIZER_POST_PROCESSOR_H_
#define LORAPLEX_ENGINE_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace loraplex::engine {

// Ids before and after the encoded sequence.
struct SpecialTokenFrame {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
};

// The frame the JSON `config` adds (null config: none). INVALID_ARGUMENT for
// unsupported types (named), templates without exactly one $A sequence, a
// $B sequence, or special tokens the template names but does not define.
absl::StatusOr<SpecialTokenFrame> ParsePostProcessor(
    const nlohmann::json& config, absl::string_view path);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_POST_PROCESSOR_H_
