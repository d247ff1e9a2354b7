// The parts of Hugging Face's tokenizer_config.json that change how a model
// directory's tokenizer encodes: whether BOS/EOS are added and which tokens
// they are.
#ifndef LORAPLEX_ENGINE_TOKENIZER_TOKENIZER_CONFIG_H_
#define LORAPLEX_ENGINE_TOKENIZER_TOKENIZER_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/common/bounded_json.h"

namespace loraplex::engine {

// Every field is empty when the file does not set it (or sets it to null).
struct TokenizerConfig {
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<std::string> bos_token;  // The token's text, e.g. "<s>".
  std::optional<std::string> eos_token;
};

// tokenizer_config.json is refused over 4 MiB or nested deeper than 64
// levels (Note [Bounded JSON]). Real ones are kilobytes; the largest seen
// (Gemma 3, with thousands of added_tokens_decoder entries) is 1.2 MB.
inline constexpr JsonLimits kTokenizerConfigJsonLimits{/*max_bytes=*/4 << 20,
                                                       /*max_depth=*/64};

// Parses tokenizer_config.json's text. Token fields may be strings or
// {"content": ...} objects (transformers' serialized AddedToken).
// INVALID_ARGUMENT for malformed JSON or fields of the wrong type.
absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(
    std::string_view json_text);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_TOKENIZER_CONFIG_H_
