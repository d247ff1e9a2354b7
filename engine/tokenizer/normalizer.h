// Hugging Face tokenizers' normalizers: text -> text before pre-tokenizing.
// Supported types: NFC, NFD, Prepend, Replace, Sequence. NFKC/NFKD
// (compatibility tables), Lowercase (case mapping), BertNormalizer,
// Precompiled and the rest are refused by name.
#ifndef LORAPLEX_ENGINE_TOKENIZER_NORMALIZER_H_
#define LORAPLEX_ENGINE_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace loraplex::engine {

// Immutable after parsing; Normalize may be called from several threads.
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8, and so is the result.
  virtual std::string Normalize(std::string_view text) const = 0;
};

// Builds the normalizer the JSON `config` describes; `path` names it in
// messages. INVALID_ARGUMENT for unsupported types and bad fields.
absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(
    const nlohmann::json& config, absl::string_view path);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_NORMALIZER_H_
